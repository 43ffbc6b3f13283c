/// `openrpc.json`, generated from the method declarations (`MethodSpec`): what `unet-engine --openrpc` prints,
/// what `rpc.discover` answers, and what the committed `Protocol/openrpc.json` must equal (`make openrpc`
/// rewrites it; `OpenRPCDocumentTests` compares).
public enum OpenRPCDocument {
    public static let openrpcVersion = "1.2.6"

    /// The document for `methods` (the standard table with the `debug.*` methods, so one document describes every
    /// build and flag).
    public static func make(methods: [MethodSpec] = MethodTable.methods(includeDebug: true)) -> JSONValue {
        var info = ProtocolSchemas.info.json.objectValue ?? [:]
        info["version"] = .string(EngineInfo.protocolVersion)
        let errors = JSONObject(
            ProtocolErrorKind.allCases.map {
                ($0.rawValue, ["code": JSONValue($0.code), "message": .string($0.summary)])
            })
        return [
            "openrpc": .string(openrpcVersion),
            "info": .object(info),
            "methods": .array(methods.filter { !isReserved($0.name) }.map(entry)),
            "x-notifications": ProtocolSchemas.notifications.json,
            "components": ["schemas": ProtocolSchemas.components.json, "errors": .object(errors)],
        ]
    }

    /// JSON-RPC reserves the names starting `rpc.` for the protocol's own extensions (`rpc.discover`).
    public static func isReserved(_ name: String) -> Bool { name.hasPrefix("rpc.") }

    /// One method's entry: name, summary, params (content descriptors), result, errors, and how it runs.
    public static func entry(_ spec: MethodSpec) -> JSONValue {
        var o: JSONObject = [
            "name": .string(spec.name), "summary": .string(spec.summary),
            "params": .array(spec.declaredParams.map(\.descriptor)), "result": spec.result.json,
        ]
        if !spec.errors.isEmpty { o["errors"] = .array(spec.errors.map(\.reference)) }
        o["x-kind"] = .string(spec.kind == .immediate ? "immediate" : "numeric")
        o["x-cancellable"] = .bool(spec.cancellable)
        return .object(o)
    }

    /// The text `--openrpc` prints and `Protocol/openrpc.json` holds: indented by two spaces, a newline at the end.
    public static var text: String { JSONCodec.encodePrettyString(make()) + "\n" }
}
