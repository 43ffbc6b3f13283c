import Foundation
import UNetCore
import UNetData
import XCTest

@testable import UNetProtocol

/// The Codable bridge of the one JSON stack (`JSONValueCoding`) and the codec's file form: what checkpoints
/// written through Foundation's JSONEncoder held reads back the same, and what the engine writes now reads back
/// bit for bit.
final class JSONValueCodingTests: XCTestCase {
    func testWhatJSONEncoderWroteDecodesToTheSameValue() throws {
        var prep = Preprocessing(channels: 3, height: 64, width: 48, letterbox: true)
        prep.normalization = Normalization(
            mode: .standardize, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
        prep.maskFormat = .index
        prep.harmonization.cropBorders = true
        prep.harmonization.percentiles = [1, 99]
        let config = try ModelMethods.config(ParamsReader(Harness.tinyUNet))
        let legacy = JSONEncoder()
        legacy.outputFormatting = [.sortedKeys]
        let oldPrep = String(decoding: try legacy.encode(prep), as: UTF8.self)
        let oldConfig = String(decoding: try legacy.encode(config), as: UTF8.self)
        XCTAssertEqual(try JSONValueCoding.decode(Preprocessing.self, fromText: oldPrep), prep)
        XCTAssertEqual(try JSONValueCoding.decode(ModelConfig.self, fromText: oldConfig), config)
        // And the other way: the new text is what Foundation (any older engine) reads as the same value.
        XCTAssertEqual(
            try JSONDecoder().decode(Preprocessing.self, from: Data(try JSONValueCoding.text(prep).utf8)), prep)
        XCTAssertEqual(
            try JSONDecoder().decode(ModelConfig.self, from: Data(try JSONValueCoding.text(config).utf8)),
            config)
    }

    func testFileTextKeepsEveryDoubleAndSortsKeys() throws {
        let values: [Double] = [0.1, 1.0 / 3.0, 2.5e-300, 123456789.123456789, -0.0]
        let text = JSONCodec.encodeForFile(["b": JSONValue(1), "a": .array(values.map { JSONValue($0) })])
        XCTAssertTrue(text.hasPrefix("{\"a\":"), text)
        let back = try XCTUnwrap(try JSONCodec.decode(text)["a"]?.arrayValue).compactMap(\.doubleValue)
        XCTAssertEqual(back.map(\.bitPattern), values.map(\.bitPattern), text)
    }

    func testNestedEnumsOptionalsAndDictionariesRoundTrip() throws {
        struct Sample: Codable, Equatable {
            enum Shape: Codable, Equatable { case step(size: Int, gamma: Float), constant }
            var shapes: [Shape]
            var table: [String: [Int]]
            var missing: Double?
            var seed: UInt64
        }
        let s = Sample(
            shapes: [.step(size: 3, gamma: 0.1), .constant], table: ["ph": [1, 2]], missing: nil,
            seed: UInt64(Int64.max))
        let json = try JSONValueCoding.encode(s)
        XCTAssertNil(json["missing"], "nil is a missing key, as JSONEncoder writes it")
        XCTAssertEqual(try JSONValueCoding.decode(Sample.self, from: json), s)
        XCTAssertEqual(try JSONValueCoding.decode(Sample.self, fromText: try JSONValueCoding.text(s)), s)
        XCTAssertThrowsError(try JSONValueCoding.encode(["seed": UInt64.max]), "beyond what jansson can write")
        XCTAssertThrowsError(try JSONValueCoding.decode(Sample.self, from: ["shapes": [], "table": [:], "seed": -1])) {
            XCTAssertEqual(($0 as? JSONValueCoding.Failure)?.path, "seed")
        }
    }

    /// A request's `normalization` object is decoded without a text round trip, with the same result.
    func testDatasetOpenReadsNormalizationThroughTheBridge() throws {
        let h = Harness()
        defer { h.finish() }
        let opened = h.call(
            "dataset.open",
            [
                "name": "ph", "phantoms": ["count": 2, "size": [16, 16]],
                "normalization": ["mode": "standardize", "mean": [0.5], "std": [0.25]],
            ])
        XCTAssertNotNil(opened?["result"], "\(opened ?? .null)")
        let bad = h.call(
            "dataset.open",
            [
                "name": "ph", "phantoms": ["count": 2, "size": [16, 16]],
                "normalization": ["mode": "standardize", "mean": "x"],
            ])
        XCTAssertEqual(bad?["error"]?["data"]?["field"], "normalization")
    }
}
