import Foundation
import XCTest

@testable import UNetProtocol

/// Collects the lines a `ResponseWriter` writes, and waits for them.
final class OutputCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var lines: [String] = []

    func append(_ bytes: [UInt8]) {
        condition.lock()
        lines.append(String(decoding: bytes, as: UTF8.self))
        condition.broadcast()
        condition.unlock()
    }

    var all: [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines
    }

    /// Every message written so far, decoded.
    var messages: [JSONValue] { all.map { try! JSONCodec.decode(String($0.dropLast())) } }

    /// Waits (up to a generous deadline, only so a broken engine fails instead of hanging) for a message that
    /// satisfies `predicate`.
    func wait(
        for description: String, file: StaticString = #filePath, line: UInt = #line,
        _ predicate: (JSONValue) -> Bool
    ) -> JSONValue? {
        let deadline = Date().addingTimeInterval(120)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let m = lines.lazy.map({ try! JSONCodec.decode(String($0.dropLast())) }).first(where: predicate) {
                return m
            }
            if !condition.wait(until: deadline) {
                XCTFail("no \(description) within the deadline; got \(lines)", file: file, line: line)
                return nil
            }
        }
    }
}

/// A dispatcher wired to an `OutputCollector`, with the debug methods on.
final class Harness {
    let output = OutputCollector()
    let dispatcher: Dispatcher

    init(maximumQueue: Int = 32) {
        var limits = Dispatcher.Limits()
        limits.maximumQueue = maximumQueue
        let out = output
        dispatcher = Dispatcher(
            writer: ResponseWriter { out.append($0) },
            methods: MethodTable.methods(includeDebug: true), limits: limits)
    }

    func send(_ text: String) { dispatcher.receive(text: text) }

    func send(id: JSONValue, _ method: String, _ params: JSONObject? = nil) {
        var o: JSONObject = ["jsonrpc": "2.0", "id": id, "method": .string(method)]
        if let params { o["params"] = .object(params) }
        dispatcher.receive(text: JSONCodec.encodeString(.object(o)))
    }

    /// The response (result or error) to `id`.
    func response(_ id: JSONValue, file: StaticString = #filePath, line: UInt = #line) -> JSONValue? {
        output.wait(for: "response to \(id)", file: file, line: line) { $0["id"] == id && $0["method"] == nil }
    }

    /// Sends a request and returns its response.
    func call(
        _ method: String, _ params: JSONObject? = nil, id: JSONValue = .string(UUID().uuidString),
        file: StaticString = #filePath, line: UInt = #line
    ) -> JSONValue? {
        send(id: id, method, params)
        return response(id, file: file, line: line)
    }

    func result(
        _ method: String, _ params: JSONObject? = nil, file: StaticString = #filePath, line: UInt = #line
    )
        -> JSONValue?
    {
        let r = call(method, params, file: file, line: line)
        XCTAssertNil(r?["error"], "\(method) failed: \(r.map(JSONCodec.encodeString) ?? "")", file: file, line: line)
        return r?["result"]
    }

    func errorCode(
        _ method: String, _ params: JSONObject? = nil, file: StaticString = #filePath, line: UInt = #line
    ) -> Int? {
        call(method, params, file: file, line: line)?["error"]?["code"]?.intValue.map(Int.init)
    }

    /// Polls `engine.status` until request `id` is the running one.
    func waitUntilRunning(_ id: JSONValue, file: StaticString = #filePath, line: UInt = #line) {
        let deadline = Date().addingTimeInterval(120)
        while result("engine.status", file: file, line: line)?["current"]?["id"] != id {
            if Date() > deadline { return XCTFail("\(id) never started", file: file, line: line) }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Ends input and waits until everything is answered.
    func finish() {
        dispatcher.endInput()
        dispatcher.waitUntilFinished()
    }

    /// `engine.hello` still answers correctly.
    func assertAlive(file: StaticString = #filePath, line: UInt = #line) {
        let hello = result("engine.hello", file: file, line: line)
        XCTAssertEqual(hello?["name"], "unet-engine", file: file, line: line)
    }

    static let tinyUNet: JSONObject = [
        "architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4,
        "seed": 1,
    ]
}

/// A raw image array param: `{"array": {"dtype", "shape", "data"}}`.
func arrayImage(uint8 values: [UInt8], shape: [Int]) -> JSONValue {
    ["array": ["dtype": "uint8", "shape": JSONValue(shape), "data": .string(Data(values).base64EncodedString())]]
}

func arrayImage(float32 values: [Float], shape: [Int]) -> JSONValue {
    var bytes: [UInt8] = []
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
    return [
        "array": ["dtype": "float32", "shape": JSONValue(shape), "data": .string(Data(bytes).base64EncodedString())]
    ]
}

/// A gradient test image (H, W): values 0...255.
func gradient(_ h: Int, _ w: Int) -> [UInt8] { (0..<(h * w)).map { UInt8(($0 * 37) % 256) } }
