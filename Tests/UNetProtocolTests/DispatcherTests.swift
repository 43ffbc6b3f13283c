import Foundation
import XCTest

@testable import UNetProtocol

/// The dispatcher in-process: bad input of every kind, queueing, cancellation, shutdown.
final class DispatcherTests: XCTestCase {
    func testHelloListsMethodsAndLimits() {
        let h = Harness()
        let hello = h.result("engine.hello")
        XCTAssertEqual(hello?["protocol_version"], .string(EngineInfo.protocolVersion))
        let methods = hello?["methods"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for m in [
            "engine.hello", "engine.status", "engine.shutdown", "cancel", "model.create", "model.summary",
            "model.save", "model.load", "predict", "segment", "debug.sleep",
        ] {
            XCTAssertTrue(methods.contains(m), "missing \(m)")
        }
        XCTAssertEqual(hello?["architectures"], ["unet-classifier", "unet", "eff-unet"])
        XCTAssertEqual(hello?["limits"]?["max_line_bytes"], .int(64 << 20))
        XCTAssertEqual(hello?["limits"]?["max_depth"], 64)
        h.finish()
    }

    /// Each bad line gets exactly one error with the right code and id, and the engine still answers hello.
    func testBadInputsAreAnsweredAndTheEngineCarriesOn() {
        let cases: [(String, Int, JSONValue)] = [
            ("{not json", -32700, .null),
            ("[1, 2, 3]", -32600, .null),
            ("42", -32600, .null),
            ("\"text\"", -32600, .null),
            ("{}", -32600, .null),
            (#"{"jsonrpc":"2.0","id":{"a":1},"method":"engine.hello"}"#, -32600, .null),
            (#"{"jsonrpc":"2.0","id":1.5,"method":"engine.hello"}"#, -32600, .null),
            (#"{"jsonrpc":"1.0","id":7,"method":"engine.hello"}"#, -32600, 7),
            (#"{"jsonrpc":"2.0","id":8}"#, -32600, 8),
            (#"{"jsonrpc":"2.0","id":9,"method":5}"#, -32600, 9),
            (#"{"jsonrpc":"2.0","id":10,"method":"engine.hello","extra":1}"#, -32600, 10),
            (#"{"jsonrpc":"2.0","id":11,"method":"engine.hello","params":[1]}"#, -32602, 11),
            (#"{"jsonrpc":"2.0","id":"u","method":"no.such.method"}"#, -32601, "u"),
            (#"{"jsonrpc":"2.0","id":12,"method":"engine.hello","params":{"verbose":true}}"#, -32602, 12),
            (
                #"{"jsonrpc":"2.0","id":13,"method":"model.create","#
                    + #""params":{"architecture":"unet","input_shape":"big"}}"#,
                -32602, 13
            ),
            (
                #"{"jsonrpc":"2.0","id":14,"method":"model.create","#
                    + #""params":{"architecture":"unet","input_shape":[1,8,8],"colour":1}}"#,
                -32602, 14
            ),
            (#"{"jsonrpc":"2.0","id":15,"method":"model.summary"}"#, -32001, 15),
            (#"{"jsonrpc":"2.0","id":16,"method":"segment","params":{"images":[]}}"#, -32001, 16),
            (#"{"jsonrpc":"2.0","id":17,"method":"cancel","params":{"id":12345}}"#, -32602, 17),
            (#"{"jsonrpc":"2.0","id":18,"method":"cancel","params":{"id":[1]}}"#, -32602, 18),
            (#"{"jsonrpc":"2.0","id":19,"method":"cancel"}"#, -32602, 19),
            (String(repeating: "[", count: 100) + String(repeating: "]", count: 100), -32600, .null),
            (
                #"{"jsonrpc":"2.0","id":20,"method":"engine.hello","params":"#
                    + String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 71), -32600, .null
            ),
        ]
        for (line, code, id) in cases {
            let h = Harness()
            h.send(line)
            let r = h.output.wait(for: "error for \(line.prefix(60))") { $0["error"] != nil }
            XCTAssertEqual(r?["error"]?["code"]?.intValue, Int64(code), line)
            XCTAssertEqual(r?["id"], id, line)
            XCTAssertNotNil(r?["error"]?["message"]?.stringValue, line)
            h.assertAlive()
            h.finish()
            XCTAssertEqual(h.output.all.count, 2, "exactly one answer per line: \(h.output.all)")
        }
    }

    func testInvalidParamsNameTheField() {
        let h = Harness()
        let r = h.call("model.create", ["architecture": "unet", "input_shape": [1, 16, 16], "depth": "deep"])
        XCTAssertEqual(r?["error"]?["data"], ["field": "depth", "reason": "must be an integer, got string"])
        let u = h.call("model.create", ["architecture": "unet", "input_shape": [1, 16, 16], "dpeth": 2])
        XCTAssertEqual(u?["error"]?["data"]?["field"], "dpeth")
        let range = h.call("model.create", ["architecture": "unet", "input_shape": [1, 16, 16], "depth": 9])
        XCTAssertEqual(range?["error"]?["data"]?["field"], "depth")
        XCTAssertEqual(range?["error"]?["code"], -32602)
        h.assertAlive()
        h.finish()
    }

    func testNotificationsGetNoReplyEvenWhenTheyFail() {
        let h = Harness()
        h.send(#"{"jsonrpc":"2.0","method":"engine.hello"}"#)
        h.send(#"{"jsonrpc":"2.0","method":"no.such.method"}"#)
        h.send(#"{"jsonrpc":"2.0","method":"model.summary"}"#)
        h.send("   ")
        h.assertAlive()
        h.finish()
        XCTAssertEqual(h.output.all.count, 1, "\(h.output.all)")
    }

    func testEveryLineIsOneJSONMessage() {
        let h = Harness()
        h.send(
            #"{"jsonrpc":"2.0","id":1,"method":"model.create","#
                + #""params":{"architecture":"unet","input_shape":[1,16,16],"depth":2,"filters":4}}"#
        )
        h.send("garbage")
        h.send(#"{"jsonrpc":"2.0","id":2,"method":"engine.status"}"#)
        h.finish()
        for line in h.output.all {
            XCTAssertEqual(line.last, "\n")
            XCTAssertEqual(line.filter { $0 == "\n" }.count, 1)
            XCTAssertNoThrow(try JSONCodec.decode(String(line.dropLast())))
        }
        XCTAssertEqual(h.output.all.count, 3)
    }

    func testStatusAnswersWhileANumericRequestRuns() {
        let h = Harness()
        h.send(id: "slow", "debug.sleep", ["seconds": 60])
        h.waitUntilRunning("slow")
        let status = h.result("engine.status")
        XCTAssertEqual(status?["busy"], true)
        XCTAssertEqual(status?["current"]?["method"], "debug.sleep")
        XCTAssertEqual(status?["queue"], 0)
        XCTAssertGreaterThan(status?["memory_bytes"]?.intValue ?? 0, 0)
        XCTAssertNotNil(status?["uptime_s"]?.doubleValue)
        h.assertAlive()
        XCTAssertTrue(h.dispatcher.cancel(id: .string("slow")))
        XCTAssertEqual(h.response("slow")?["error"]?["code"], -32800)
        h.finish()
    }

    func testCancelRunningAndQueuedRequests() {
        let h = Harness()
        h.send(id: "a", "debug.sleep", ["seconds": 60])
        h.send(id: "b", "debug.sleep", ["seconds": 60])
        h.send(id: "c", "model.create", Harness.tinyUNet)
        // b is queued behind a: cancelling it answers it at once, before the cancel's own {}.
        XCTAssertEqual(h.result("cancel", ["id": "b"]), [:])
        XCTAssertEqual(h.response("b")?["error"]?["code"], -32800)
        XCTAssertEqual(h.result("cancel", ["id": "a"]), [:])
        XCTAssertEqual(h.response("a")?["error"], ["code": -32800, "message": "request cancelled"])
        // The queue goes on: c runs after the cancelled ones.
        XCTAssertEqual(h.response("c")?["result"]?["architecture"], "unet")
        // A request that has finished can no longer be cancelled.
        XCTAssertEqual(h.errorCode("cancel", ["id": "c"]), -32602)
        h.finish()
        let order = h.output.messages.compactMap { $0["id"] }.filter { ["a", "b", "c"].contains($0) }
        XCTAssertEqual(order, ["b", "a", "c"])
    }

    func testCancelAsANotification() {
        let h = Harness()
        h.send(id: 1, "debug.sleep", ["seconds": 60])
        h.send(#"{"jsonrpc":"2.0","method":"cancel","params":{"id":1}}"#)
        XCTAssertEqual(h.response(1)?["error"]?["code"], -32800)
        h.finish()
        XCTAssertEqual(h.output.messages.filter { $0["method"] == nil }.count, 1)
    }

    func testQueueLimitAnswersBusy() {
        let h = Harness(maximumQueue: 1)
        h.send(id: 1, "debug.sleep", ["seconds": 60])
        h.waitUntilRunning(1)
        h.send(id: 2, "debug.sleep", ["seconds": 0])
        let busy = h.call("debug.sleep", ["seconds": 0], id: 3)
        XCTAssertEqual(busy?["error"]?["code"], -32006)
        XCTAssertEqual(busy?["error"]?["data"]?["queue_limit"], 1)
        XCTAssertEqual(h.result("engine.status")?["queue"], 1)
        _ = h.dispatcher.cancel(id: .int(1))
        XCTAssertEqual(h.response(2)?["result"]?["slept_s"], 0)
        h.finish()
    }

    func testDuplicateIdOfAPendingRequestIsRejected() {
        let h = Harness()
        h.send(id: "x", "debug.sleep", ["seconds": 60])
        h.send(id: "x", "debug.sleep", ["seconds": 0])
        let dup = h.output.wait(for: "duplicate id error") { $0["error"]?["code"] == -32600 }
        XCTAssertEqual(dup?["error"]?["data"]?["field"], "id")
        _ = h.dispatcher.cancel(id: .string("x"))
        XCTAssertNotNil(
            h.output.wait(for: "the cancelled answer") { $0["id"] == "x" && $0["error"]?["code"] == -32800 })
        h.finish()
    }

    func testEndOfInputFinishesQueuedRequests() {
        let h = Harness()
        h.send(id: 1, "model.create", Harness.tinyUNet)
        h.send(id: 2, "model.summary")
        h.send(id: 3, "debug.sleep", ["seconds": 0.05])
        h.finish()
        let responses = h.output.messages.filter { $0["method"] == nil }
        XCTAssertEqual(responses.compactMap { $0["id"] }, [1, 2, 3])
        XCTAssertTrue(responses.allSatisfy { $0["result"] != nil })
    }

    func testShutdownRepliesLastAfterTheQueueDrains() {
        let h = Harness()
        h.send(id: 1, "debug.sleep", ["seconds": 0.2])
        h.send(id: 2, "engine.shutdown")
        XCTAssertFalse(h.dispatcher.isAccepting)
        h.send(id: 3, "model.create", Harness.tinyUNet)  // after shutdown: not run
        h.dispatcher.waitUntilFinished()
        let responses = h.output.messages.filter { $0["method"] == nil }
        XCTAssertEqual(responses.compactMap { $0["id"] }, [1, 2])
        XCTAssertEqual(responses.last?["result"], [:])
    }

    func testAbortCancelsEverything() {
        let h = Harness()
        h.send(id: 1, "debug.sleep", ["seconds": 60])
        h.send(id: 2, "debug.sleep", ["seconds": 60])
        h.dispatcher.abort()
        h.dispatcher.waitUntilFinished()
        let responses = h.output.messages.filter { $0["method"] == nil }
        XCTAssertEqual(responses.compactMap { $0["error"]?["code"] }, [-32800, -32800])
        XCTAssertEqual(responses.count, 2)
    }

    func testOversizeLineAnswer() {
        let h = Harness()
        h.dispatcher.receiveOversizeLine(length: 100 << 20)
        let r = h.output.wait(for: "oversize error") { _ in true }
        XCTAssertEqual(r?["error"]?["code"], -32600)
        XCTAssertEqual(r?["id"], .null)
        XCTAssertEqual(r?["error"]?["data"]?["limit"], .int(64 << 20))
        h.assertAlive()
        h.finish()
    }

    func testProgressNotificationsCarryTheRequestId() {
        let h = Harness()
        h.send(id: "p", "debug.sleep", ["seconds": 0.1])
        XCTAssertEqual(h.response("p")?["result"]?["slept_s"], 0.1)
        h.finish()
        let progress = h.output.messages.filter { $0["method"] == "progress" }
        XCTAssertFalse(progress.isEmpty)
        XCTAssertTrue(progress.allSatisfy { $0["params"]?["id"] == "p" && $0["id"] == nil })
    }
}
