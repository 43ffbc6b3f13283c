import XCTest

@testable import UNetProtocol

final class ParamsReaderTests: XCTestCase {
    private func field(_ body: () throws -> Void) -> (Int, String?, String?) {
        do { try body() } catch let e as RPCError {
            return (e.code, e.data?["field"]?.stringValue, e.data?["reason"]?.stringValue)
        } catch { XCTFail("unexpected \(error)") }
        return (0, nil, nil)
    }

    func testTypedReadsWithDefaultsAndRanges() throws {
        let p = ParamsReader(["n": 3, "x": 2, "f": 0.5, "s": "bilinear", "b": true, "shape": [1, 2, 3], "nul": nil])
        XCTAssertEqual(try p.int("n", default: 0, in: 1...5), 3)
        XCTAssertEqual(try p.double("x"), 2.0, "an integer is a valid number")
        XCTAssertEqual(try p.double("f"), 0.5)
        XCTAssertEqual(try p.string("s", oneOf: ["bilinear", "nearest"]), "bilinear")
        XCTAssertEqual(try p.bool("b"), true)
        XCTAssertEqual(try p.intArray("shape", count: 3...3), [1, 2, 3])
        XCTAssertEqual(try p.int("missing", default: 7), 7)
        XCTAssertEqual(try p.int("nul", default: 9), 9, "null means default")
        XCTAssertNoThrow(try p.finish())
    }

    func testIntegralDoublesAreIntegers() throws {
        XCTAssertEqual(try ParamsReader(["n": 4.0]).int("n"), 4)
        let (code, f, reason) = field { _ = try ParamsReader(["n": 4.5]).int("n") }
        XCTAssertEqual(code, -32602); XCTAssertEqual(f, "n"); XCTAssertEqual(reason, "must be an integer, got number")
    }

    func testErrorsNameTheField() {
        XCTAssertEqual(field { _ = try ParamsReader(["d": "x"]).int("d") }.1, "d")
        XCTAssertEqual(field { _ = try ParamsReader(["d": 9]).int("d", in: 1...6) }.2, "must be in 1...6, got 9")
        XCTAssertEqual(field { _ = try ParamsReader(["s": [1, "a"]]).intArray("s") }.1, "s[1]")
        XCTAssertEqual(field { _ = try ParamsReader([:]).requiredString("path") }.2, "is required")
        XCTAssertEqual(
            field { _ = try ParamsReader(["u": "up"]).string("u", oneOf: ["a", "b"]) }.2,
            "must be one of \"a\", \"b\", got \"up\"")
    }

    func testNestedReadersAndUnknownKeys() throws {
        let p = ParamsReader(["images": [["array": ["dtype": "uint8", "bogus": 1]]]])
        let images = try p.requiredArray("images")
        let image = try p.element("images", 0, of: images)
        let array = try image.object("array")!
        XCTAssertEqual(try array.string("dtype"), "uint8")
        let (_, f, reason) = field { try array.finish() }
        XCTAssertEqual(f, "images[0].array.bogus")
        XCTAssertEqual(reason, "is not a known parameter (known: dtype)", "a nested object lists its known keys too")
    }
}
