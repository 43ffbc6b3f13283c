import Foundation
import XCTest

@testable import UNetProtocol

/// The built `unet-engine` binary run as a subprocess with pipes, as a host runs it.
/// Unchecked Sendable: `rawOutput` and `errorOutput` are written by the two reading threads only, and read after
/// `done` and `errorDone` are signalled.
final class EngineProcess: @unchecked Sendable {
    let process = Process()
    private let stdin = Pipe()
    private let stdout = Pipe()
    private let stderr = Pipe()
    private let output = OutputCollector()
    private let done = DispatchSemaphore(value: 0)
    private let errorDone = DispatchSemaphore(value: 0)
    private(set) var rawOutput = Data()
    private(set) var errorOutput = Data()

    /// `$UNET_ENGINE_BIN`, else `unet-engine` beside the test bundle (the same build directory).
    static var binary: URL? {
        if let env = ProcessInfo.processInfo.environment["UNET_ENGINE_BIN"] { return URL(fileURLWithPath: env) }
        var candidates = [
            Bundle.main.bundleURL, URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
        ]
        candidates += Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        return candidates.map { $0.appendingPathComponent("unet-engine") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// `environment`: the engine's whole environment (default: this process's).
    init(_ arguments: [String] = [], environment: [String: String]? = nil) throws {
        guard let binary = EngineProcess.binary else {
            throw XCTSkip("unet-engine binary not found; set UNET_ENGINE_BIN")
        }
        process.executableURL = binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let out = stdout.fileHandleForReading
        let collector = output
        Thread {
            var pending = Data()
            while true {
                let chunk = out.availableData
                if chunk.isEmpty { break }
                self.rawOutput.append(chunk)
                pending.append(chunk)
                while let nl = pending.firstIndex(of: 0x0A) {
                    collector.append([UInt8](pending[pending.startIndex...nl]))
                    pending = Data(pending[(nl + 1)...])
                }
            }
            self.done.signal()
        }.start()
        let err = stderr.fileHandleForReading
        Thread {
            self.errorOutput = err.readDataToEndOfFile()
            self.errorDone.signal()
        }.start()
    }

    func send(_ text: String) { sendRaw(Data((text + "\n").utf8)) }
    func sendRaw(_ data: Data) { stdin.fileHandleForWriting.write(data) }

    func request(_ id: JSONValue, _ method: String, _ params: JSONObject? = nil) {
        var o: JSONObject = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
        if let params { o["params"] = .object(params) }
        send(JSONCodec.encodeString(.object(o)))
    }

    func response(_ id: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        output.wait(for: "response to \(id)", file: file, line: line) { $0["id"] == id && $0["method"] == nil }
    }

    func waitFor(_ what: String, _ predicate: (JSONValue) -> Bool) -> JSONValue? { output.wait(for: what, predicate) }

    /// Closes stdin and waits for the engine to exit; returns its status.
    func finish() -> Int32 {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        done.wait()
        errorDone.wait()
        return process.terminationStatus
    }

    var messages: [JSONValue] { output.messages }
}
