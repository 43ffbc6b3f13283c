/// The error codes a method declares it may answer with, by the names `openrpc.json` gives them
/// (`#/components/errors/NAME`). `RPCError` holds the codes; this is their catalogue for the document.
public enum ProtocolErrorKind: String, CaseIterable, Sendable {
    case parseError = "ParseError"
    case invalidRequest = "InvalidRequest"
    case methodNotFound = "MethodNotFound"
    case invalidParams = "InvalidParams"
    case internalError = "InternalError"
    case cancelled = "Cancelled"
    case noModel = "NoModel"
    case fileNotFound = "FileNotFound"
    case imageDecodeFailed = "ImageDecodeFailed"
    case shapeMismatch = "ShapeMismatch"
    case trainingDiverged = "TrainingDiverged"
    case busy = "Busy"
    case checkpointInvalid = "CheckpointInvalid"
    case ioError = "IOError"
    case unsupportedByModel = "UnsupportedByModel"
    case notAvailable = "NotAvailable"

    public var code: Int {
        switch self {
        case .parseError: return RPCError.parseErrorCode
        case .invalidRequest: return RPCError.invalidRequestCode
        case .methodNotFound: return RPCError.methodNotFoundCode
        case .invalidParams: return RPCError.invalidParamsCode
        case .internalError: return RPCError.internalErrorCode
        case .cancelled: return RPCError.cancelledCode
        case .noModel: return RPCError.noModelCode
        case .fileNotFound: return RPCError.fileNotFoundCode
        case .imageDecodeFailed: return RPCError.imageDecodeFailedCode
        case .shapeMismatch: return RPCError.shapeMismatchCode
        case .trainingDiverged: return RPCError.trainingDivergedCode
        case .busy: return RPCError.busyCode
        case .checkpointInvalid: return RPCError.checkpointInvalidCode
        case .ioError: return RPCError.ioErrorCode
        case .unsupportedByModel: return RPCError.unsupportedByModelCode
        case .notAvailable: return RPCError.notAvailableCode
        }
    }

    /// The one-line meaning `openrpc.json` gives the code.
    public var summary: String {
        switch self {
        case .parseError: return "parse error: the line is not JSON (answered with id null)"
        case .invalidRequest:
            return
                "invalid request: not a JSON-RPC 2.0 request object, line too long, nesting too deep, or id already in use"
        case .methodNotFound: return "unknown method"
        case .invalidParams: return "invalid params; data = {field, reason}"
        case .internalError: return "internal error"
        case .cancelled: return "request cancelled"
        case .noModel: return "no model yet"
        case .fileNotFound: return "no such file"
        case .imageDecodeFailed: return "image decode failed"
        case .shapeMismatch: return "shape mismatch"
        case .trainingDiverged: return "training diverged"
        case .busy: return "busy: the queue is full"
        case .checkpointInvalid: return "checkpoint invalid or does not fit the model"
        case .ioError: return "cannot write a file"
        case .unsupportedByModel: return "the current model cannot do this"
        case .notAvailable: return "not available in this build"
        }
    }

    /// `{"$ref": "#/components/errors/NAME"}`, as a method's `errors` lists it.
    public var reference: JSONValue { ["$ref": .string("#/components/errors/\(rawValue)")] }
}
