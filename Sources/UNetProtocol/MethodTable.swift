/// How a method runs.
public enum MethodKind: Sendable {
    /// Answered at once on the reader thread, even while a numeric request runs (`engine.*`, `cancel`).
    case immediate
    /// Queued and run one at a time, in arrival order, on the worker thread that owns the session.
    case numeric
}

/// One entry of the method table: the name hosts call, how it runs, which top-level params it accepts (any
/// other name is answered with -32602 before the handler runs) and the handler, which returns the `result`.
public struct MethodSpec {
    public let name: String
    public let kind: MethodKind
    public let params: Set<String>
    public let handler: (RequestContext) throws -> JSONValue

    public init(_ name: String, _ kind: MethodKind, params: [String] = [],
                handler: @escaping (RequestContext) throws -> JSONValue) {
        self.name = name; self.kind = kind; self.params = Set(params); self.handler = handler
    }
}

/// A group of methods that one file provides (`EngineMethods`, `ModelMethods`, later `DatasetMethods`, ...).
public protocol MethodGroup {
    static var methods: [MethodSpec] { get }
}

/// The method table the engine serves. A new method group is added here, in one line.
public enum MethodTable {
    public static var standardGroups: [MethodGroup.Type] {
        [EngineMethods.self, ModelMethods.self, InferenceMethods.self, DatasetMethods.self, TrainMethods.self,
         EvaluateMethods.self, ExplainMethods.self]
    }

    /// Every standard method, plus the `debug.*` ones when asked for (tests use them to hold the worker busy).
    public static func methods(includeDebug: Bool = false) -> [MethodSpec] {
        var all = standardGroups.flatMap { $0.methods }
        if includeDebug { all += DebugMethods.methods }
        return all
    }
}
