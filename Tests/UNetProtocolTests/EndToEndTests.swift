import Foundation
import XCTest

@testable import UNetProtocol

/// The built binary through pipes: transcripts, end of input, signals, the output stream's hygiene.
final class EndToEndTests: XCTestCase {
    /// Replays Protocol/transcripts/NAME.requests.ndjson and checks NAME.responses.ndjson (convention in
    /// Protocol/PROTOCOL.md: pairing by id, placeholders such as "<number>", "..." for extra keys).
    func testTranscripts() throws {
        let dir = EngineProcess.repositoryRoot.appendingPathComponent("Protocol/transcripts")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".requests.ndjson") }.map { String($0.dropLast(".requests.ndjson".count)) }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 4)
        for name in names {
            let engine = try EngineProcess(["--threads", "1"])
            engine.sendRaw(try Data(contentsOf: dir.appendingPathComponent("\(name).requests.ndjson")))
            XCTAssertEqual(engine.finish(), 0, name)
            let expected = try String(
                contentsOf: dir.appendingPathComponent("\(name).responses.ndjson"), encoding: .utf8
            )
            .split(separator: "\n").map { try JSONCodec.decode(String($0)) }
            let actual = engine.messages.filter { $0["method"] != "progress" }
            let nullActual = actual.filter { $0["id"] == .null }
            let nullExpected = expected.filter { $0["id"] == .null }
            XCTAssertEqual(nullActual.count, nullExpected.count, "\(name): id-null responses")
            for (e, a) in zip(nullExpected, nullActual) { assertMatches(e, a, "\(name) id null") }
            let withID = actual.filter { $0["id"] != .null }
            XCTAssertEqual(withID.count, expected.count - nullExpected.count, "\(name): responses with ids")
            for e in expected where e["id"] != .null {
                let matches = withID.filter { $0["id"] == e["id"] }
                XCTAssertEqual(matches.count, 1, "\(name): one response to \(e["id"]!)")
                if let a = matches.first { assertMatches(e, a, "\(name) id \(JSONCodec.encodeString(e["id"]!))") }
            }
        }
    }

    func testEndOfInputMidRequestFinishesItAndExitsZero() throws {
        let engine = try EngineProcess()
        engine.request(1, "model.create", Harness.tinyUNet)
        engine.request(
            2, "segment",
            [
                "images": .array(
                    Array(
                        repeating: arrayImage(uint8: gradient(48, 40), shape: [48, 40]),
                        count: 3)), "encoding": "array",
            ])
        engine.sendRaw(Data(#"{"jsonrpc":"2.0","id":3,"meth"#.utf8))
        XCTAssertEqual(engine.finish(), 0)
        XCTAssertEqual(engine.messages.first { $0["id"] == 2 }?["result"]?["masks"]?.arrayValue?.count, 3)
        XCTAssertEqual(engine.messages.first { $0["id"] == .null }?["error"]?["code"], -32700)
    }

    func testCancelOverPipes() throws {
        let engine = try EngineProcess(["--debug-methods"])
        engine.request("slow", "debug.sleep", ["seconds": 120])
        XCTAssertNotNil(engine.waitFor("the sleep's first progress") { $0["method"] == "progress" })
        engine.request("c", "cancel", ["id": "slow"])
        XCTAssertEqual(engine.response("c")?["result"], [:])
        XCTAssertEqual(engine.response("slow")?["error"]?["code"], -32800)
        engine.request("h", "engine.hello")
        XCTAssertEqual(engine.response("h")?["result"]?["name"], "unet-engine")
        XCTAssertEqual(engine.finish(), 0)
    }

    func testSIGTERMFinishesTheRunningRequest() throws {
        let engine = try EngineProcess(["--debug-methods"])
        engine.request("s", "debug.sleep", ["seconds": 0.2])
        XCTAssertNotNil(engine.waitFor("the sleep to start") { $0["method"] == "progress" })
        kill(engine.process.processIdentifier, SIGTERM)
        engine.process.waitUntilExit()
        XCTAssertEqual(engine.process.terminationStatus, 0)
        XCTAssertEqual(engine.response("s")?["result"]?["slept_s"], 0.2)
    }

    func testOversizeLineOverPipes() throws {
        let engine = try EngineProcess(["--max-line-bytes", "4096"])
        engine.send(
            #"{"jsonrpc":"2.0","id":1,"method":"engine.hello","params":{"x":""# + String(repeating: "y", count: 100_000)
                + #""}}"#)
        engine.request(2, "engine.hello")
        XCTAssertEqual(engine.response(2)?["result"]?["limits"]?["max_line_bytes"], 4096)
        XCTAssertEqual(engine.finish(), 0)
        XCTAssertEqual(engine.messages.first?["error"]?["data"]?["length"]?.intValue.map { $0 > 4096 }, true)
    }

    /// stdout carries nothing but protocol lines, even with debug logging on; logs go to stderr.
    func testStdoutIsOnlyJSONLines() throws {
        let engine = try EngineProcess(["--log-level", "debug"])
        engine.request(1, "model.create", Harness.tinyUNet)
        engine.send("not json")
        engine.request(2, "segment", ["images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])]])
        engine.request(3, "engine.status")
        XCTAssertEqual(engine.finish(), 0)
        let lines = engine.rawOutput.split(separator: 0x0A, omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last?.isEmpty, true, "the stream ends with a newline")
        XCTAssertEqual(lines.count - 1, 4)
        for line in lines.dropLast() { XCTAssertNoThrow(try JSONCodec.decode([UInt8](line))) }
        XCTAssertTrue(String(decoding: engine.errorOutput, as: UTF8.self).contains("unet-engine [debug]"))
    }

    func testVersionAndHelp() throws {
        guard let binary = EngineProcess.binary else { throw XCTSkip("unet-engine binary not found") }
        for (args, expected, status) in [
            (["--version"], "unet-engine \(EngineInfo.version)", Int32(0)),
            (["--help"], "OVERVIEW: A JSON-RPC engine", 0), (["--bogus"], "", 2),
        ] {
            let p = Process()
            p.executableURL = binary
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = Pipe()
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, status, "\(args)")
            XCTAssertTrue(text.hasPrefix(expected), "\(args): \(text)")
        }
    }

    // MARK: Transcript matching

    private static let placeholders: [String: @Sendable (JSONValue) -> Bool] = [
        "<any>": { _ in true },
        "<string>": { $0.stringValue != nil },
        "<number>": { $0.doubleValue != nil },
        "<integer>": {
            if case .int = $0 { return true }
            return false
        },
        "<boolean>": { $0.boolValue != nil },
        "<array>": { $0.arrayValue != nil },
        "<object>": { $0.objectValue != nil },
    ]

    private func assertMatches(
        _ expected: JSONValue, _ actual: JSONValue, _ path: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        switch expected {
        case .string(let s) where Self.placeholders[s] != nil:
            XCTAssertTrue(Self.placeholders[s]!(actual), "\(path): \(actual) is not \(s)", file: file, line: line)
        case .object(let e):
            guard let a = actual.objectValue else { return XCTFail("\(path): not an object", file: file, line: line) }
            let keys = Set(e.keys).subtracting(["..."])
            if e["..."] == nil { XCTAssertEqual(Set(a.keys), keys, "\(path): keys", file: file, line: line) }
            for k in keys { assertMatches(e[k]!, a[k] ?? .null, "\(path).\(k)", file: file, line: line) }
        case .array(let e):
            guard let a = actual.arrayValue, a.count == e.count else {
                return XCTFail("\(path): \(actual) is not an array of \(e.count)", file: file, line: line)
            }
            for (i, (x, y)) in zip(e, a).enumerated() { assertMatches(x, y, "\(path)[\(i)]", file: file, line: line) }
        case .int, .double:
            guard let a = actual.doubleValue else {
                return XCTFail("\(path): \(actual) is not a number", file: file, line: line)
            }
            let x = expected.doubleValue!
            XCTAssertLessThanOrEqual(abs(a - x), 1e-6 * max(1, abs(x)), "\(path)", file: file, line: line)
        default:
            XCTAssertEqual(expected, actual, path, file: file, line: line)
        }
    }
}
