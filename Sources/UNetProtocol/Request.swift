/// A request id: JSON-RPC allows strings and numbers; this engine takes strings and integers, as LSP does.
public enum RequestID: Hashable, Sendable, CustomStringConvertible {
    case int(Int64)
    case string(String)

    public init?(_ value: JSONValue) {
        switch value {
        case .int(let i): self = .int(i)
        case .string(let s): self = .string(s)
        default: return nil
        }
    }

    public var json: JSONValue {
        switch self {
        case .int(let i): return .int(i)
        case .string(let s): return .string(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return "\"\(s)\""
        }
    }
}

/// One decoded JSON-RPC message from the host. `id == nil` makes it a notification: it runs, but nothing is
/// written back, not even an error.
public struct Request: Sendable {
    public let id: RequestID?
    public let method: String
    public let params: JSONObject

    public init(id: RequestID?, method: String, params: JSONObject = [:]) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Validates the envelope of a decoded message.
    /// - Returns: the request, or the error to answer and the id to answer it with (null when the id itself is
    ///   missing or unusable: a malformed message is answered even without an id).
    static func parse(_ value: JSONValue) -> Result<Request, EnvelopeError> {
        guard case .object(let o) = value else {
            return .failure(
                EnvelopeError(
                    id: .null, error: .invalidRequest("a request must be a JSON object, got \(value.typeName)")))
        }
        // The id first, so every later error can be answered with it.
        var id: RequestID?
        // A message without an id whose envelope is wrong is answered with id null (JSON-RPC 2.0, section 5):
        // only a well-formed notification goes unanswered.
        var replyID: JSONValue = .null
        if let raw = o["id"] {
            guard let parsed = RequestID(raw) else {
                return .failure(
                    EnvelopeError(
                        id: .null,
                        error: .invalidRequest("id must be a string or an integer, got \(raw.typeName)", field: "id")))
            }
            id = parsed
            replyID = parsed.json
        }
        func fail(_ e: RPCError) -> Result<Request, EnvelopeError> { .failure(EnvelopeError(id: replyID, error: e)) }
        guard o["jsonrpc"] == .string("2.0") else {
            return fail(.invalidRequest("jsonrpc must be \"2.0\"", field: "jsonrpc"))
        }
        guard let methodValue = o["method"] else { return fail(.invalidRequest("method is missing", field: "method")) }
        guard case .string(let method) = methodValue else {
            return fail(.invalidRequest("method must be a string, got \(methodValue.typeName)", field: "method"))
        }
        if let extra = o.keys.first(where: { !["jsonrpc", "id", "method", "params"].contains($0) }) {
            return fail(.invalidRequest("unknown member \(extra)", field: extra))
        }
        var params = JSONObject()
        if let p = o["params"] {
            guard case .object(let obj) = p else {
                return fail(
                    .invalidParams(field: "params", reason: "must be an object (by-name params), got \(p.typeName)"))
            }
            params = obj
        }
        return .success(Request(id: id, method: method, params: params))
    }
}

/// A message whose envelope is wrong. `id` is what to answer with: the request's id, or `.null` when it is
/// missing or unusable.
struct EnvelopeError: Error {
    let id: JSONValue
    let error: RPCError
}
