import ArgumentParser
import Foundation
import UNetCore
import UNetProtocol

/// `unet-engine [options]`: serves JSON-RPC 2.0 on stdin/stdout, one message per line, until end of input (see
/// Protocol/PROTOCOL.md); `unet-engine predict|segment|explain ...` are the one-shots (`OneShotCommands.swift`).
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet-engine",
        abstract: "A JSON-RPC engine for U-Nets on chest X-rays.",
        usage: """
            unet-engine [options]
              \(OneShotUsage.synopsis(.predict))
              \(OneShotUsage.synopsis(.segment))
              \(OneShotUsage.synopsis(.explain))
              (each also takes --blas-core NAME)
            """,
        discussion: """
            Serves JSON-RPC 2.0 on stdin/stdout, one message per line, until end of input (see Protocol/PROTOCOL.md).
            Logs go to stderr.

            predict, segment and explain are one-shots for scripts: they load the checkpoint M, print one JSON line
            per file on stdout ({"image": FILE, ...} or {"image": FILE, "error": {...}}) and exit 0 when every file
            was answered, 1 when some failed, 2 for bad arguments or an unusable model.
            `unet-engine predict --help`, `unet-engine segment --help` and `unet-engine explain --help` describe
            their options and lines.

            example:
              echo '{"jsonrpc":"2.0","id":1,"method":"engine.hello"}' | unet-engine
            """,
        version: "\(EngineInfo.name) \(EngineInfo.version) (protocol \(EngineInfo.protocolVersion))",
        subcommands: [PredictCommand.self, SegmentCommand.self, ExplainCommand.self])

    @OptionGroup var compute: ComputeOptions

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp(
            "error, warning, info or debug (default: warning).",
            valueName: "LEVEL"),
        transform: { name in
            guard let level = Log.Level(name: name) else {
                throw ValidationError("unknown log level \(name) (error, warning, info or debug)")
            }
            return level
        })
    var logLevel: Log.Level?

    @Option(name: .customLong("max-line-bytes"), help: ArgumentHelp("Longest accepted request line.", valueName: "N"))
    var maxLineBytes = Dispatcher.Limits().maximumLineBytes

    @Option(
        name: .customLong("max-queue"),
        help: ArgumentHelp("Numeric requests that may wait before \"busy\" errors.", valueName: "N"))
    var maxQueue = Dispatcher.Limits().maximumQueue

    @Option(
        name: .customLong("max-model-bytes"),
        help: ArgumentHelp(
            "Largest model (weights, training state, one image's activations) that model.create and model.load build "
                + "(default: half the physical memory).", valueName: "N"))
    var maxModelBytes: Int?

    @Flag(name: .customLong("debug-methods"), help: "Also serve debug.sleep (for testing cancellation and queueing).")
    var debugMethods = false

    @Flag(
        help: ArgumentHelp(
            "Data-parallel training under mpirun (`mpirun -np N unet-engine --mpi`): rank 0 serves stdin/stdout and "
                + "shares each request with the other ranks; loads Open MPI (libmpi.so.40) only then."))
    var mpi = false

    @Flag(
        help: ArgumentHelp(
            "Print the OpenRPC document (Protocol/openrpc.json) generated from the method declarations and exit."))
    var openrpc = false

    func validate() throws {
        let counts = [
            ("--max-line-bytes", maxLineBytes), ("--max-queue", maxQueue), ("--max-model-bytes", maxModelBytes ?? 1),
        ]
        for (flag, n) in counts where n <= 0 {
            throw ValidationError("\(flag) must be a positive integer, got \(n)")
        }
    }

    func run() throws {
        if openrpc {
            print(OpenRPCDocument.text, terminator: "")
            throw ExitCode.success
        }
        if let logLevel { Log.level = logLevel }
        var options = Server.Options()
        options.limits.maximumLineBytes = maxLineBytes
        options.limits.maximumQueue = maxQueue
        options.debugMethods = debugMethods
        if let maxModelBytes { ModelSizeEstimate.maximumBytes = maxModelBytes }
        compute.apply()
        guard mpi else { throw ExitCode(Server(options: options).run()) }
        let group: MPIGroup
        do { group = try MPIGroup.start() } catch {
            FileHandle.standardError.write(Data("unet-engine: --mpi: \(error)\n".utf8))
            throw ExitCode(2)
        }
        DataParallel.group = group
        let status: Int32
        if group.rank == 0 {
            options.replicator = group
            status = Server(options: options).run()
        } else {
            status = Server(options: options).runFollower(group)
        }
        group.finish()
        throw ExitCode(status)
    }
}

/// The options of every command that computes: the thread count, and `--blas-core`.
struct ComputeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Compute threads (default: the number of cores).", valueName: "N"))
    var threads: Int?

    /// Taken out of the arguments by `BLASCoreCheck.atStartup` before any parsing (it must run before the first
    /// BLAS call, and may restart the process); declared here for `--help` only.
    @Option(
        name: .customLong("blas-core"),
        help: ArgumentHelp(
            "OpenBLAS kernels: auto (the best for this CPU: the default when OPENBLAS_CORETYPE is unset) or a core such "
                + "as Haswell, Zen, SkylakeX (also: UNET_BLAS_CORE).", valueName: "NAME"))
    var blasCore: String?

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be a positive integer, got \(threads)") }
    }

    func apply() { Parallel.setThreads(threads ?? ProcessInfo.processInfo.activeProcessorCount) }
}
