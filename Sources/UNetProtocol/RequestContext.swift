import Foundation

/// What a handler sees of its request: the params, the session, cancellation and progress.
///
/// Numeric handlers run on the worker thread and own the session while they run. Long handlers call
/// `checkCancelled()` at batch boundaries (after a batch has been applied, so the model stays consistent) and
/// `progress(_:)` as they go. Immediate handlers (`engine.*`, `cancel`) run on the reader thread and must not
/// touch the session.
public final class RequestContext: @unchecked Sendable {
    public let id: RequestID?
    public let method: String
    public let params: ParamsReader
    public let session: Session
    /// The dispatcher, for the engine methods that report on or steer it.
    public unowned let dispatcher: Dispatcher

    private let lock = NSLock()
    private var cancelled = false
    private var lastProgress: JSONValue?

    init(request: Request, session: Session, dispatcher: Dispatcher) {
        id = request.id; method = request.method
        params = ParamsReader(request.params)
        self.session = session; self.dispatcher = dispatcher
    }

    /// Whether a `cancel` (or a second termination signal) asked this request to stop.
    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    /// Throws the -32800 answer if the request was cancelled. Call it where stopping leaves everything valid.
    public func checkCancelled() throws {
        if isCancelled { throw RPCError.cancelled }
    }

    func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }

    /// Sends `{"method":"progress","params":{"id":<id>, ...fields}}` and remembers it for `engine.status`.
    /// Notifications (requests without id) report nothing.
    public func progress(_ fields: JSONObject) {
        lock.lock(); lastProgress = .object(fields); lock.unlock()
        guard let id else { return }
        var params: JSONObject = ["id": id.json]
        for (k, v) in fields where k != "id" { params[k] = v }
        dispatcher.writer.sendNotification(method: "progress", params: .object(params))
    }

    /// The last progress fields reported, for `engine.status`.
    public var currentProgress: JSONValue? {
        lock.lock(); defer { lock.unlock() }
        return lastProgress
    }
}
