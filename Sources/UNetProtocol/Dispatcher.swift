import Foundation
import UNetCore

/// Routes decoded requests: immediate methods are answered on the calling (reader) thread at once; numeric
/// methods wait in a bounded queue and run one at a time, in arrival order, on a single worker thread that owns
/// the session.
///
/// Life cycle: `receive` lines until end of input, `engine.shutdown` or a signal; then `endInput()` stops
/// accepting, the worker finishes the running and queued requests and writes their responses (and the
/// shutdown reply, last), and `waitUntilFinished()` returns. `abort()` instead cancels everything pending.
public final class Dispatcher: @unchecked Sendable {
    /// Limits that protect the engine from a host's mistakes; each is reported by `engine.hello`.
    public struct Limits: Sendable {
        /// Longest accepted line in bytes, excluding the newline.
        public var maximumLineBytes = 64 << 20
        /// Deepest accepted nesting of arrays and objects in a message.
        public var maximumDepth = JSONCodec.defaultMaximumDepth
        /// Numeric requests that may wait behind the running one; more are answered "busy" (-32006).
        public var maximumQueue = 32
        public init() {}

        public var json: JSONValue {
            [
                "max_line_bytes": JSONValue(maximumLineBytes), "max_depth": JSONValue(maximumDepth),
                "max_queue": JSONValue(maximumQueue), "max_images": JSONValue(ImageInput.maximumImages),
                "max_image_side": JSONValue(ImageInput.maximumSide),
                "max_image_elements": JSONValue(ImageInput.maximumElements),
                "max_model_bytes": JSONValue(ModelSizeEstimate.maximumBytes),
            ]
        }
    }

    private struct Job {
        let spec: MethodSpec
        let context: RequestContext
        let request: Request
    }

    /// Thrown by a handler whose reply the dispatcher writes later (`engine.shutdown`, after the drain).
    struct ReplyLater: Error {}

    public let writer: ResponseWriter
    public let session: Session
    public let limits: Limits
    /// Under `--mpi` on rank 0: shares each numeric request with the other ranks right before it runs (set before
    /// the first request arrives).
    public var replicator: RequestReplicator?
    private let methods: [String: MethodSpec]
    private let started = DispatchTime.now()

    private let state = NSCondition()
    private var queue: [Job] = []
    private var current: Job?
    private var accepting = true
    private var finished = false
    /// The id to answer `{}` once drained, when `engine.shutdown` ended the session (`.some(nil)`: a notification).
    private var shutdownReply: RequestID??

    public init(writer: ResponseWriter, session: Session = Session(), methods: [MethodSpec], limits: Limits = Limits())
    {
        self.writer = writer
        self.session = session
        self.limits = limits
        self.methods = Dictionary(methods.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
        let thread = Thread { [unowned self] in self.workerLoop() }
        thread.name = "unet-engine worker"
        thread.stackSize = 16 << 20
        thread.start()
    }

    /// Registered method names, sorted, as `engine.hello` lists them: all but the reserved `rpc.` ones
    /// (`rpc.discover`), which the OpenRPC document does not list either.
    public var methodNames: [String] { methods.keys.filter { !OpenRPCDocument.isReserved($0) }.sorted() }

    public var uptimeSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9 }

    /// False once input has ended or shutdown was requested: the reader stops reading.
    public var isAccepting: Bool {
        state.lock()
        defer { state.unlock() }
        return accepting
    }

    // MARK: Input

    /// Handles one line (without its newline). Blank lines are ignored.
    public func receive(line: [UInt8]) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        let value: JSONValue
        do {
            value = try JSONCodec.decode(line, maximumDepth: limits.maximumDepth)
        } catch let e as JSONCodec.DecodeError {
            switch e {
            case .syntax: writer.sendError(id: .null, .parseError(e.description))
            case .tooDeep(let limit):
                writer.sendError(
                    id: .null,
                    RPCError(
                        code: RPCError.invalidRequestCode,
                        message: "invalid request: nesting is deeper than \(limit) levels",
                        data: ["reason": "nesting too deep", "limit": JSONValue(limit)]))
            }
            return
        } catch {
            writer.sendError(id: .null, .internalError("\(error)"))
            return
        }
        receive(value)
    }

    public func receive(text: String) { receive(line: Array(text.utf8)) }

    /// Answers a line that exceeded `maximumLineBytes` (its id is unknown: the answer has id null).
    public func receiveOversizeLine(length: Int) {
        Log.warning("discarded a line of \(length) bytes (limit \(limits.maximumLineBytes))")
        writer.sendError(
            id: .null,
            RPCError(
                code: RPCError.invalidRequestCode,
                message:
                    "invalid request: line of \(length) bytes exceeds the limit of \(limits.maximumLineBytes) bytes",
                data: [
                    "reason": "line too long", "limit": JSONValue(limits.maximumLineBytes), "length": JSONValue(length),
                ]))
    }

    /// Handles one decoded message.
    public func receive(_ value: JSONValue) {
        let request: Request
        switch Request.parse(value) {
        case .success(let r): request = r
        case .failure(let e):
            writer.sendError(id: e.id, e.error)
            return
        }
        guard let spec = methods[request.method] else {
            reply(request.id, .failure(.methodNotFound(request.method)))
            return
        }
        if let unknown = request.params.keys.first(where: { !spec.params.contains($0) }) {
            let known =
                spec.params.isEmpty
                ? "this method takes no params" : "known: \(spec.params.sorted().joined(separator: ", "))"
            reply(request.id, .failure(.invalidParams(field: unknown, reason: "is not a known parameter (\(known))")))
            return
        }
        if let nested = NestedKeyCheck.firstUnknown(in: request.params, declared: spec.declaredParams) {
            reply(request.id, .failure(nested))
            return
        }
        let context = RequestContext(request: request, session: session, dispatcher: self)
        switch spec.kind {
        case .immediate:
            do {
                reply(request.id, .success(try spec.handler(context)))
            } catch is ReplyLater {
            } catch {
                reply(request.id, .failure(RPCError(error)))
            }
        case .numeric:
            enqueue(Job(spec: spec, context: context, request: request))
        }
    }

    private func enqueue(_ job: Job) {
        state.lock()
        defer { state.unlock() }
        guard accepting else {
            Log.info("ignored \(job.spec.name) after the end of input")
            return
        }
        if let id = job.context.id, current?.context.id == id || queue.contains(where: { $0.context.id == id }) {
            reply(id, .failure(.invalidRequest("a request with id \(id) is already queued or running", field: "id")))
            return
        }
        guard queue.count < limits.maximumQueue else {
            reply(job.context.id, .failure(.busy(queueLimit: limits.maximumQueue)))
            return
        }
        Log.debug("queued \(job.spec.name) id \(job.context.id?.description ?? "none")")
        queue.append(job)
        state.broadcast()
    }

    private func reply(_ id: RequestID?, _ outcome: Result<JSONValue, RPCError>) {
        guard let id else {
            if case .failure(let e) = outcome { Log.info("notification failed: \(e.message)") }
            return
        }
        switch outcome {
        case .success(let result): writer.sendResult(id: id.json, result)
        case .failure(let error): writer.sendError(id: id.json, error)
        }
    }

    // MARK: Worker

    private func workerLoop() {
        while true {
            state.lock()
            while queue.isEmpty && accepting { state.wait() }
            if queue.isEmpty {
                if let replicator {
                    // Nothing is accepted any more (so nothing is queued meanwhile): the other ranks may stop.
                    state.unlock()
                    replicator.shareEnd()
                    state.lock()
                }
                // Input has ended and everything is answered: the shutdown reply, if any, is the last line.
                if case .some(.some(let id)) = shutdownReply { writer.sendResult(id: id.json, [:]) }
                finished = true
                state.broadcast()
                state.unlock()
                return
            }
            let job = queue.removeFirst()
            current = job
            state.unlock()

            let t0 = DispatchTime.now()
            let outcome: Result<JSONValue, RPCError>
            if job.context.isCancelled {
                outcome = .failure(.cancelled)
            } else {
                if let replicator, !Replication.rankZeroOnly.contains(job.spec.name) { replicator.share(job.request) }
                // The worker is the engine's computing thread while a numeric handler runs (`ComputeThread`).
                do { outcome = .success(try ComputeThread.run { try job.spec.handler(job.context) }) } catch {
                    outcome = .failure(RPCError(error))
                }
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e6
            Log.debug("\(job.spec.name) id \(job.context.id?.description ?? "none") done in \(Int(ms)) ms")

            // Answer and clear `current` together, so a `cancel` sees the request either running or answered.
            state.lock()
            reply(job.context.id, outcome)
            current = nil
            state.unlock()
        }
    }

    /// Under `--mpi` on a rank other than 0: runs a request rank 0 shared, on the calling thread, as rank 0 runs
    /// it; the answer is dropped (rank 0 alone answers the host).
    public func runShared(_ request: Request) {
        guard let spec = methods[request.method] else { return }
        let context = RequestContext(request: request, session: session, dispatcher: self)
        do { _ = try ComputeThread.run { try spec.handler(context) } } catch {
            Log.debug("\(request.method) id \(request.id?.description ?? "none") failed here too: \(error)")
        }
    }

    // MARK: Control (called by the engine methods and the server)

    /// Cancels a queued request (answered -32800 at once) or flags the running one (it answers -32800 at its
    /// next check). Returns false when no such request is queued or running.
    public func cancel(id: RequestID) -> Bool {
        state.lock()
        defer { state.unlock() }
        if let job = current, job.context.id == id {
            job.context.cancel()
            return true
        }
        if let i = queue.firstIndex(where: { $0.context.id == id }) {
            let job = queue.remove(at: i)
            job.context.cancel()
            reply(id, .failure(.cancelled))
            return true
        }
        return false
    }

    /// End of input (or SIGTERM/SIGINT): accept nothing more; the worker finishes what is queued.
    public func endInput() {
        state.lock()
        accepting = false
        state.broadcast()
        state.unlock()
    }

    /// `engine.shutdown`: as end of input, and `{}` is answered to `id` after the last response.
    func beginShutdown(replyTo id: RequestID?) {
        state.lock()
        if accepting { shutdownReply = .some(id) } else if let id { writer.sendResult(id: id.json, [:]) }
        accepting = false
        state.broadcast()
        state.unlock()
    }

    /// A second termination signal: cancel the running request and answer every queued one -32800.
    public func abort() {
        state.lock()
        defer { state.unlock() }
        accepting = false
        current?.context.cancel()
        for job in queue { reply(job.context.id, .failure(.cancelled)) }
        queue.removeAll()
        state.broadcast()
    }

    /// Blocks until the worker has answered everything after the input ended.
    public func waitUntilFinished() {
        state.lock()
        defer { state.unlock() }
        while !finished { state.wait() }
    }

    /// `engine.status`'s result.
    public func status() -> JSONValue {
        state.lock()
        defer { state.unlock() }
        var currentInfo: JSONValue = .null
        if let job = current {
            currentInfo = [
                "id": job.context.id?.json ?? .null, "method": .string(job.spec.name),
                "progress": job.context.currentProgress ?? .null,
            ]
        }
        let queued: [JSONValue] = queue.map { ["id": $0.context.id?.json ?? .null, "method": .string($0.spec.name)] }
        return [
            "busy": .bool(current != nil || !queue.isEmpty), "current": currentInfo,
            "queue": JSONValue(queue.count), "queued": .array(queued),
            "memory_bytes": JSONValue(ProcessMemory.residentBytes), "uptime_s": JSONValue(uptimeSeconds),
        ]
    }
}
