import ArgumentParser
import Foundation
import UNetCore

/// unet-engine: serves JSON-RPC 2.0, one message per line, on stdin/stdout (see Protocol/PROTOCOL.md), or runs a
/// one-shot (`EngineCommand`).

// Before any BLAS call: OpenBLAS must run the kernels this CPU can (may restart the process; takes --blas-core).
let arguments = Array(BLASCoreCheck.atStartup(CommandLine.arguments, program: "unet-engine").dropFirst())
do {
    // With subcommands, --help parses into a command whose run() throws the help request: both go below.
    var command = try EngineCommand.parseAsRoot(arguments)
    try command.run()
    exit(0)
} catch let status as ExitCode {
    exit(status.rawValue)
} catch {
    // --help and --version print to stdout and exit 0; a bad command line is reported on stderr with status 2.
    // 120 columns: the help's tables of output lines are laid out for that width.
    let message = EngineCommand.fullMessage(for: error, columns: 120)
    guard EngineCommand.exitCode(for: error) == .success else {
        FileHandle.standardError.write(Data("unet-engine: \(message)\n".utf8))
        exit(2)
    }
    print(message)
    exit(0)
}
