import Dispatch
import Foundation

/// Serves the protocol on stdin/stdout until end of input, `engine.shutdown` or SIGTERM/SIGINT.
///
/// stdout is reserved for protocol lines: at start the real stdout is duplicated to a private descriptor that
/// only the `ResponseWriter` writes, and stderr is copied onto descriptor 1, so anything a linked C library
/// (or a stray `print`) writes goes to stderr instead of corrupting the stream.
public final class Server {
    public struct Options {
        public var limits = Dispatcher.Limits()
        public var debugMethods = false
        /// Under `--mpi` on rank 0: the other ranks' share of every request (see `runFollower` for theirs).
        public var replicator: RequestReplicator?
        public init() {}
    }

    private let options: Options
    private var signalSources: [DispatchSourceSignal] = []
    private var signalsSeen = 0

    public init(options: Options) { self.options = options }

    /// Runs until the session ends; returns the process exit status (0).
    public func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        let protocolFD = dup(1)
        guard protocolFD >= 0 else {
            Log.error("cannot duplicate stdout: \(String(cString: strerror(errno)))")
            return 1
        }
        _ = fcntl(protocolFD, F_SETFD, FD_CLOEXEC)
        dup2(2, 1)

        let writer = ResponseWriter(fd: protocolFD)
        let dispatcher = Dispatcher(
            writer: writer, methods: MethodTable.methods(includeDebug: options.debugMethods),
            limits: options.limits)
        dispatcher.replicator = options.replicator
        installSignalHandlers(dispatcher)

        let maximumLineBytes = options.limits.maximumLineBytes
        let thread = Thread {
            // Made here: the reader thread alone uses it.
            let reader = LineReader(fd: 0, maximumLineBytes: maximumLineBytes)
            loop: while dispatcher.isAccepting {
                switch reader.next() {
                case .line(let bytes): dispatcher.receive(line: bytes)
                case .oversize(let length): dispatcher.receiveOversizeLine(length: length)
                case .end:
                    Log.info("end of input")
                    break loop
                }
            }
            dispatcher.endInput()
        }
        thread.name = "unet-engine reader"
        thread.stackSize = 16 << 20
        thread.start()

        Log.info("serving \(dispatcher.methodNames.count) methods on stdin/stdout")
        dispatcher.waitUntilFinished()
        Log.info("exiting after \(writer.messagesWritten) messages")
        return 0
    }

    /// Under `--mpi` on a rank other than 0: runs every request rank 0 shares, until it shares the end. Nothing of
    /// this rank reaches stdout (mpirun forwards every rank's stdout to the host): its answers are dropped and
    /// descriptor 1 is stderr. Signals are left to rank 0, which ends the input for every rank.
    public func runFollower(_ group: MPIGroup) -> Int32 {
        dup2(2, 1)
        for sig in [SIGTERM, SIGINT, SIGPIPE] { signal(sig, SIG_IGN) }
        let dispatcher = Dispatcher(
            writer: ResponseWriter(output: { _ in }),
            methods: MethodTable.methods(includeDebug: options.debugMethods), limits: options.limits)
        Log.info("rank \(group.rank) of \(group.size): following rank 0")
        while let request = group.receive() { dispatcher.runShared(request) }
        dispatcher.endInput()
        dispatcher.waitUntilFinished()
        return 0
    }

    /// SIGTERM and SIGINT end the input (the running and queued requests finish); a second one cancels them.
    private func installSignalHandlers(_ dispatcher: Dispatcher) {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [unowned self] in
                self.signalsSeen += 1
                if self.signalsSeen == 1 {
                    Log.info("signal \(sig): finishing the current requests, then exiting")
                    dispatcher.endInput()
                } else {
                    Log.info("signal \(sig) again: cancelling the current requests")
                    dispatcher.abort()
                }
            }
            source.resume()
            signalSources.append(source)
        }
    }
}
