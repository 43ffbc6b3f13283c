import UNetCore
import UNetData

/// A JSON-RPC error response: `{"code", "message", "data"}`. Handlers throw it (or any error that maps to it);
/// the dispatcher writes it with the request's id.
///
/// Codes -32700...-32600 are JSON-RPC's, -32800 is the Language Server Protocol's "request cancelled", and
/// -32001 and below are this engine's. Each is documented in Protocol/PROTOCOL.md.
public struct RPCError: Error, Equatable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code; self.message = message; self.data = data
    }

    public var description: String { "\(code): \(message)" }

    public var json: JSONValue {
        var o: JSONObject = ["code": JSONValue(code), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    // MARK: JSON-RPC 2.0 and LSP codes

    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    public static let cancelledCode = -32800

    // MARK: Engine codes

    public static let noModelCode = -32001
    public static let fileNotFoundCode = -32002
    public static let imageDecodeFailedCode = -32003
    public static let shapeMismatchCode = -32004
    public static let trainingDivergedCode = -32005
    public static let busyCode = -32006
    public static let checkpointInvalidCode = -32007
    public static let ioErrorCode = -32008
    public static let unsupportedByModelCode = -32009
    public static let notAvailableCode = -32010

    public static func parseError(_ reason: String) -> RPCError {
        RPCError(code: parseErrorCode, message: "parse error: \(reason)", data: ["reason": .string(reason)])
    }

    public static func invalidRequest(_ reason: String, field: String? = nil) -> RPCError {
        var data: JSONObject = ["reason": .string(reason)]
        if let field { data["field"] = .string(field) }
        return RPCError(code: invalidRequestCode, message: "invalid request: \(reason)", data: .object(data))
    }

    public static func methodNotFound(_ method: String) -> RPCError {
        RPCError(code: methodNotFoundCode, message: "unknown method \(method)", data: ["method": .string(method)])
    }

    /// -32602 naming the offending field, e.g. `input_shape` or `images[2].array.shape`.
    public static func invalidParams(field: String, reason: String) -> RPCError {
        RPCError(
            code: invalidParamsCode, message: "invalid params: \(field) \(reason)",
            data: ["field": .string(field), "reason": .string(reason)])
    }

    public static func internalError(_ reason: String) -> RPCError {
        RPCError(code: internalErrorCode, message: "internal error: \(reason)", data: ["reason": .string(reason)])
    }

    public static let cancelled = RPCError(code: cancelledCode, message: "request cancelled")

    public static let noModel = RPCError(
        code: noModelCode,
        message: "no model: create one with model.create or load one with model.load")

    public static func busy(queueLimit: Int) -> RPCError {
        RPCError(
            code: busyCode, message: "busy: \(queueLimit) requests are already waiting; retry later",
            data: ["queue_limit": JSONValue(queueLimit)])
    }

    public static func fileNotFound(_ path: String) -> RPCError {
        RPCError(code: fileNotFoundCode, message: "no such file: \(path)", data: ["path": .string(path)])
    }

    public static func shapeMismatch(_ reason: String, field: String? = nil) -> RPCError {
        var data: JSONObject = ["reason": .string(reason)]
        if let field { data["field"] = .string(field) }
        return RPCError(code: shapeMismatchCode, message: "shape mismatch: \(reason)", data: .object(data))
    }

    public static func unsupportedByModel(_ reason: String) -> RPCError {
        RPCError(code: unsupportedByModelCode, message: reason, data: ["reason": .string(reason)])
    }

    public static func notAvailable(_ feature: String) -> RPCError {
        RPCError(
            code: notAvailableCode, message: "\(feature) is not available in this build",
            data: ["feature": .string(feature)])
    }
}

/// How any error becomes a protocol error: the one mechanism. An error type (from this module, UNetCore or
/// UNetData) conforms and says its code and data; the dispatcher, the one-shot commands and MPI ranks answer
/// with `rpcError`, and anything that does not conform is -32603 with its description.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError: RPCErrorConvertible {
    public var rpcError: RPCError { self }
}

extension RPCError {
    /// The protocol error for anything a handler throws.
    public init(_ error: Error) {
        self = (error as? RPCErrorConvertible)?.rpcError ?? .internalError(String(describing: error))
    }
}

/// A parameter that does not fit its declaration (the architecture registry's checks): -32602 naming it.
extension ConfigError: RPCErrorConvertible {
    public var rpcError: RPCError { .invalidParams(field: field, reason: reason) }
}

extension ShapeError: RPCErrorConvertible {
    public var rpcError: RPCError { .shapeMismatch(description) }
}

extension ImageError: RPCErrorConvertible {
    public var rpcError: RPCError {
        RPCError(
            code: RPCError.imageDecodeFailedCode, message: "image decode failed: \(description)",
            data: ["path": .string(path), "reason": .string(message)])
    }
}

extension CheckpointError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch self {
        case .notFound(let path): return .fileNotFound(path)
        case .invalid(let path, _), .mismatch(let path, _):
            return RPCError(
                code: RPCError.checkpointInvalidCode, message: description,
                data: ["path": .string(path), "reason": .string(description)])
        case .io(let path, _):
            return RPCError(
                code: RPCError.ioErrorCode, message: description,
                data: ["path": .string(path), "reason": .string(description)])
        }
    }
}
