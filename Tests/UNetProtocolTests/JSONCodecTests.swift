import XCTest

@testable import UNetProtocol

final class JSONCodecTests: XCTestCase {
    func testRoundTripKeepsKeyOrderAndTypes() throws {
        let text = #"{"b":1,"a":[true,false,null,1.5,"x\ny"],"c":{"z":-9007199254740993,"y":"é"}}"#
        let v = try JSONCodec.decode(text)
        XCTAssertEqual(v["b"], .int(1))
        XCTAssertEqual(v["c"]?["z"], .int(-9_007_199_254_740_993))
        XCTAssertEqual(v.objectValue?.keys, ["b", "a", "c"])
        XCTAssertEqual(JSONCodec.encodeString(v), text.replacingOccurrences(of: "\n", with: "\\n"))
    }

    func testOutputIsOneLineEvenWithNewlinesInStrings() {
        let s = JSONCodec.encodeString(["text": "line1\nline2\r\n", "list": [1, 2]])
        XCTAssertFalse(s.contains("\n"))
        XCTAssertEqual(s, #"{"text":"line1\nline2\r\n","list":[1,2]}"#)
    }

    func testNonFiniteDoublesBecomeNull() {
        XCTAssertEqual(
            JSONCodec.encodeString([.double(.nan), .double(.infinity), .double(-.infinity)]), "[null,null,null]")
    }

    func testFloat32RoundTripsThroughNineDigits() throws {
        let values: [Float] = [0.1, 1.0 / 3.0, 123456.79, 1e-30, -2.5e20, .leastNormalMagnitude]
        let text = JSONCodec.encodeString(JSONValue(values))
        let back = try JSONCodec.decode(text).arrayValue!.map { Float($0.doubleValue!) }
        XCTAssertEqual(back, values)
        XCTAssertEqual(JSONCodec.encodeString(.double(1)), "1.0", "integral doubles stay doubles")
    }

    func testTopLevelScalarsAndArraysDecode() throws {
        XCTAssertEqual(try JSONCodec.decode("3"), .int(3))
        XCTAssertEqual(try JSONCodec.decode("[1,\"a\"]"), [1, "a"])
        XCTAssertEqual(try JSONCodec.decode("null"), .null)
    }

    func testSyntaxErrorsReportAPosition() {
        XCTAssertThrowsError(try JSONCodec.decode("{\"a\":}")) { error in
            guard case .syntax(let message, let position)? = error as? JSONCodec.DecodeError else {
                return XCTFail("expected a syntax error, got \(error)")
            }
            XCTAssertFalse(message.isEmpty)
            XCTAssertEqual(position, 6, "jansson's position is just past the offending token")
        }
    }

    func testRejectsDuplicateKeysInvalidUTF8AndTrailingGarbage() {
        XCTAssertThrowsError(try JSONCodec.decode(#"{"a":1,"a":2}"#))
        XCTAssertThrowsError(try JSONCodec.decode([0x22, 0xFF, 0xFE, 0x22]))
        XCTAssertThrowsError(try JSONCodec.decode("{} {}"))
        XCTAssertThrowsError(try JSONCodec.decode(""))
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSONCodec.decode(ok))
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        XCTAssertThrowsError(try JSONCodec.decode(deep)) {
            XCTAssertEqual($0 as? JSONCodec.DecodeError, .tooDeep(limit: 64))
        }
        // Deeper than jansson's own stack limit is reported the same way.
        let huge = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        XCTAssertThrowsError(try JSONCodec.decode(huge)) {
            XCTAssertEqual($0 as? JSONCodec.DecodeError, .tooDeep(limit: 64))
        }
    }

    func testEqualityIgnoresKeyOrderAndNumberRepresentation() {
        XCTAssertEqual(JSONValue.object(["a": 1, "b": 2]), .object(["b": 2, "a": 1.0]))
        XCTAssertNotEqual(JSONValue.object(["a": 1]), .object(["a": 1, "b": 2]))
        XCTAssertNotEqual(JSONValue.string("1"), .int(1))
    }

    func testEmbeddedNulInStringsButNotKeys() throws {
        let v = try JSONCodec.decode(#"{"key":"a\u0000b"}"#)
        XCTAssertEqual(v["key"], .string("a\u{0}b"))
        XCTAssertEqual(JSONCodec.encodeString(v), #"{"key":"a\u0000b"}"#)
        XCTAssertThrowsError(try JSONCodec.decode(#"{"k\u0000ey":1}"#))
    }
}

/// Integers beyond int64 are valid JSON; they decode as reals so the request keeps its id (issue 13, item 15).
final class JSONCodecBigIntegerTests: XCTestCase {
    func testIntegersBeyondInt64DecodeAsReals() throws {
        let v = try JSONCodec.decode(
            #"{"a":99999999999999999999999,"b":[-18446744073709551616,1],"c":"99999999999999999999999"}"#)
        XCTAssertEqual(v["a"], .double(1e23))
        XCTAssertEqual(v["b"], [.double(-18446744073709551616), .int(1)])
        XCTAssertEqual(v["c"], .string("99999999999999999999999"))
        XCTAssertEqual(try JSONCodec.decode("99999999999999999999999"), .double(1e23))
    }

    func testParamsReaderReportsThemOutOfRange() throws {
        let p = ParamsReader(try JSONCodec.decode(#"{"seed":99999999999999999999999}"#).objectValue!)
        XCTAssertThrowsError(try p.int("seed", in: 0...Int.max)) {
            XCTAssertEqual(($0 as? RPCError)?.code, -32602)
            XCTAssertTrue("\($0)".contains("seed"), "\($0)")
        }
    }
}
