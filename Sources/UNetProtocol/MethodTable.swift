/// How a method runs.
public enum MethodKind: Sendable {
    /// Answered at once on the reader thread, even while a numeric request runs (`engine.*`, `cancel`).
    case immediate
    /// Queued and run one at a time, in arrival order, on the worker thread that owns the session.
    case numeric
}

/// One entry of the method table, and the one declaration of the method: the name hosts call, how it runs, its
/// parameters (typed `Param`s the handler reads; any other name is answered with -32602 before the handler
/// runs), its result's JSON Schema, the errors it may answer with, and the handler, which returns the `result`.
/// `OpenRPCDocument` renders every declaration as `openrpc.json`'s entry for the method.
public struct MethodSpec {
    public let name: String
    public let kind: MethodKind
    /// One line for the document.
    public let summary: String
    /// True when a running request checks for `cancel` and answers -32800 (a queued numeric request can always
    /// be cancelled).
    public let cancellable: Bool
    public let declaredParams: [ParamDeclaration]
    /// The declared names, which the dispatcher accepts.
    public let params: Set<String>
    /// The result's content descriptor, `{"name", "schema"}`.
    public let result: SchemaFragment
    public let errors: [ProtocolErrorKind]
    public let handler: (RequestContext) throws -> JSONValue

    public init(
        _ name: String, _ kind: MethodKind, summary: String, cancellable: Bool = false,
        params: [ParamDeclaration] = [], result: SchemaFragment, errors: [ProtocolErrorKind] = [],
        handler: @escaping (RequestContext) throws -> JSONValue
    ) {
        self.name = name; self.kind = kind; self.summary = summary; self.cancellable = cancellable
        self.declaredParams = params; self.params = Set(params.map(\.name)); self.result = result
        self.errors = errors; self.handler = handler
    }
}

/// A group of methods that one file provides (`EngineMethods`, `ModelMethods`, later `DatasetMethods`, ...).
public protocol MethodGroup {
    static var methods: [MethodSpec] { get }
}

/// The method table the engine serves. A new method group is added here, in one line.
public enum MethodTable {
    public static var standardGroups: [MethodGroup.Type] {
        [
            EngineMethods.self, ModelMethods.self, InferenceMethods.self, DatasetMethods.self, TrainMethods.self,
            EvaluateMethods.self, ExplainMethods.self,
        ]
    }

    /// Every standard method, plus the `debug.*` ones when asked for (tests use them to hold the worker busy).
    public static func methods(includeDebug: Bool = false) -> [MethodSpec] {
        var all = standardGroups.flatMap { $0.methods }
        if includeDebug { all += DebugMethods.methods }
        return all
    }
}
