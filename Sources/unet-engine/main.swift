import Foundation
import UNetCore
import UNetProtocol

/// unet-engine: serves JSON-RPC 2.0, one message per line, on stdin/stdout (see Protocol/PROTOCOL.md).

let usage = """
    usage: unet-engine [options]
           \(OneShotUsage.synopsis("predict"))
           \(OneShotUsage.synopsis("segment"))
           \(OneShotUsage.synopsis("explain"))
           (each also takes --blas-core NAME)

    Serves JSON-RPC 2.0 on stdin/stdout, one message per line, until end of input (see Protocol/PROTOCOL.md).
    Logs go to stderr.

    predict, segment and explain are one-shots for scripts: they load the checkpoint M, print one JSON line per file
    on stdout ({"image": FILE, ...} or {"image": FILE, "error": {...}}) and exit 0 when every file was
    answered, 1 when some failed, 2 for bad arguments or an unusable model.
    `unet-engine predict --help`, `unet-engine segment --help` and `unet-engine explain --help` describe their
    options and lines.

    options:
      --threads N           compute threads (default: the number of cores)
      --blas-core NAME      OpenBLAS kernels: auto (the best for this CPU: the default when OPENBLAS_CORETYPE
                            is unset) or a core such as Haswell, Zen, SkylakeX (also: UNET_BLAS_CORE)
      --log-level LEVEL     error, warning, info or debug (default: warning)
      --max-line-bytes N    longest accepted request line (default: 67108864)
      --max-queue N         numeric requests that may wait before "busy" errors (default: 32)
      --max-model-bytes N   largest model (weights, training state, one image's activations) that
                            model.create and model.load build (default: half the physical memory)
      --debug-methods       also serve debug.sleep (for testing cancellation and queueing)
      --mpi                 data-parallel training under mpirun (`mpirun -np N unet-engine --mpi`): rank 0
                            serves stdin/stdout and shares each request with the other ranks; loads Open MPI
                            (libmpi.so.40) only then
      --version             print the version and exit
      --openrpc             print the OpenRPC document (Protocol/openrpc.json) generated from the method
                            declarations and exit
      --help                print this help and exit

    example:
      echo '{"jsonrpc":"2.0","id":1,"method":"engine.hello"}' | unet-engine

    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("unet-engine: \(message)\n\(usage)".utf8))
    exit(2)
}

var options = Server.Options()
var useMPI = false
var threads = ProcessInfo.processInfo.activeProcessorCount
// Before any BLAS call: OpenBLAS must run the kernels this CPU can (may restart the process; takes --blas-core).
var args = BLASCoreCheck.atStartup(CommandLine.arguments, program: "unet-engine").dropFirst()

// One-shot subcommands: one JSON line per image, no session.
if let command = args.first, OneShot.commands.contains(command) {
    var rest = Array(args.dropFirst())
    if let i = rest.firstIndex(of: "--threads"), i + 1 < rest.count, let n = Int(rest[i + 1]), n > 0 {
        threads = n
        rest.removeSubrange(i...(i + 1))
    }
    Parallel.setThreads(threads)
    exit(OneShot.run(command, rest))
}

func value(for flag: String) -> String {
    guard let v = args.popFirst() else { fail("\(flag) needs a value") }
    return v
}

func positiveInt(for flag: String) -> Int {
    let text = value(for: flag)
    guard let n = Int(text), n > 0 else { fail("\(flag) must be a positive integer, got \(text)") }
    return n
}

while let arg = args.popFirst() {
    switch arg {
    case "--help", "-h":
        print(usage, terminator: "")
        exit(0)
    case "--version":
        print("\(EngineInfo.name) \(EngineInfo.version) (protocol \(EngineInfo.protocolVersion))")
        exit(0)
    case "--openrpc":
        print(OpenRPCDocument.text, terminator: "")
        exit(0)
    case "--threads": threads = positiveInt(for: arg)
    case "--log-level":
        let name = value(for: arg)
        guard let level = Log.Level(name: name) else { fail("unknown log level \(name)") }
        Log.level = level
    case "--max-line-bytes": options.limits.maximumLineBytes = positiveInt(for: arg)
    case "--max-queue": options.limits.maximumQueue = positiveInt(for: arg)
    case "--max-model-bytes": ModelSizeEstimate.maximumBytes = positiveInt(for: arg)
    case "--debug-methods": options.debugMethods = true
    case "--mpi": useMPI = true
    default: fail("unknown argument \(arg)")
    }
}

Parallel.setThreads(threads)
guard useMPI else { exit(Server(options: options).run()) }
let group: MPIGroup
do { group = try MPIGroup.start() } catch {
    FileHandle.standardError.write(Data("unet-engine: --mpi: \(error)\n".utf8))
    exit(2)
}
DataParallel.group = group
var status: Int32
if group.rank == 0 {
    options.replicator = group
    status = Server(options: options).run()
} else {
    status = Server(options: options).runFollower(group)
}
group.finish()
exit(status)
