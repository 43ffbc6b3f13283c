import UNetCore

/// `engine.hello`, `engine.status`, `engine.shutdown` and `cancel`: answered on the reader thread at once, even
/// while a numeric request runs. None of them touches the session.
public enum EngineMethods: MethodGroup {
    public static var methods: [MethodSpec] {
        [
            MethodSpec("engine.hello", .immediate) { ctx in
                ["name": .string(EngineInfo.name), "version": .string(EngineInfo.version),
                 "protocol_version": .string(EngineInfo.protocolVersion),
                 "methods": JSONValue(ctx.dispatcher.methodNames),
                 "architectures": JSONValue(EngineInfo.architectures),
                 "threads": JSONValue(Parallel.threads), "blas": EngineInfo.blas,
                 "limits": ctx.dispatcher.limits.json]
            },
            MethodSpec("engine.status", .immediate) { ctx in ctx.dispatcher.status() },
            MethodSpec("engine.shutdown", .immediate) { ctx in
                ctx.dispatcher.beginShutdown(replyTo: ctx.id)
                throw Dispatcher.ReplyLater()
            },
            MethodSpec("cancel", .immediate, params: ["id"]) { ctx in
                guard let raw = ctx.params.value("id") else { throw ctx.params.invalid("id", "is required") }
                guard let target = RequestID(raw) else {
                    throw ctx.params.invalid("id", "must be a string or an integer, got \(raw.typeName)")
                }
                guard ctx.dispatcher.cancel(id: target) else {
                    throw ctx.params.invalid("id", "no queued or running request has id \(target)")
                }
                return [:]
            },
        ]
    }
}
