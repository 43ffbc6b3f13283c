import UNetCore

/// `engine.hello`, `engine.status`, `engine.shutdown`, `cancel` and `rpc.discover`: answered on the reader thread at
/// once, even while a numeric request runs. None of them touches the session.
public enum EngineMethods: MethodGroup {
    static let id = Param.json("id", schema: Param<JSONValue>.ref("RequestId"), "the id of the request to cancel")
        .required

    public static var methods: [MethodSpec] {
        [
            MethodSpec("engine.hello", .immediate, summary: "Identify the engine.", result: engineHelloResult) { ctx in
                [
                    "name": .string(EngineInfo.name), "version": .string(EngineInfo.version),
                    "protocol_version": .string(EngineInfo.protocolVersion),
                    "methods": JSONValue(ctx.dispatcher.methodNames),
                    "architectures": JSONValue(EngineInfo.architectures),
                    "threads": JSONValue(Parallel.threads), "blas": EngineInfo.blas,
                    "simd": EngineInfo.simd,
                    "limits": ctx.dispatcher.limits.json,
                ]
            },
            MethodSpec(
                "engine.status", .immediate,
                summary: "What the engine is doing; answered at once even while busy.",
                result: engineStatusResult
            ) { ctx in ctx.dispatcher.status() },
            MethodSpec(
                "engine.shutdown", .immediate, summary: "Finish queued work, answer {} last, exit 0.",
                result: engineShutdownResult
            ) { ctx in
                ctx.dispatcher.beginShutdown(replyTo: ctx.id)
                throw Dispatcher.ReplyLater()
            },
            MethodSpec(
                "cancel", .immediate, summary: "Cancel a queued or running request; it answers -32800.",
                params: [id], result: cancelResult, errors: [.invalidParams]
            ) { ctx in
                let raw = try ctx.params[id]
                guard let target = RequestID(raw) else {
                    throw ctx.params.invalid("id", "must be a string or an integer, got \(raw.typeName)")
                }
                guard ctx.dispatcher.cancel(id: target) else {
                    throw ctx.params.invalid("id", "no queued or running request has id \(target)")
                }
                return [:]
            },
            // The OpenRPC service discovery method: the document `--openrpc` prints. Like every `rpc.` name it is
            // reserved by JSON-RPC, so neither `engine.hello` nor the document lists it among the methods.
            MethodSpec(
                "rpc.discover", .immediate, summary: "The OpenRPC document of this engine.",
                result: rpcDiscoverResult
            ) { _ in OpenRPCDocument.make() },
        ]
    }
}
