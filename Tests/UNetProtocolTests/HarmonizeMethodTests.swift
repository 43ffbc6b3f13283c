import Foundation
import UNetCore
import UNetData
import XCTest

@testable import UNetProtocol

/// `harmonize` (issue 22) through the protocol: the dataset's preprocessing is what inference repeats, from the
/// session and from a checkpoint, and a border crop is undone on the output mask.
final class HarmonizeMethodTests: XCTestCase {
    /// A dark 40x40 "chest" letterboxed to 40x64 (black bands of 12 columns each side), and its mask.
    private func letterboxedPair() -> (image: [UInt8], mask: [UInt8]) {
        var image = [UInt8](repeating: 0, count: 40 * 64), mask = image
        for y in 0..<40 {
            for x in 12..<52 {
                let lung =
                    (x - 22) * (x - 22) + (y - 20) * (y - 20) < 60 || (x - 42) * (x - 42) + (y - 20) * (y - 20) < 60
                image[y * 64 + x] = UInt8(30 + (x * 7 + y * 3) % 20 + (lung ? 40 : 0))
                mask[y * 64 + x] = lung ? 255 : 0
            }
        }
        return (image, mask)
    }

    private func writeDataset() throws -> String {
        let dir = NSTemporaryDirectory() + "harmonize-\(UUID().uuidString)"
        for sub in ["images", "masks"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        let (image, mask) = letterboxedPair()
        try Data(PNGEncoder.encodeGrey(image, height: 40, width: 64)).write(
            to: URL(fileURLWithPath: dir + "/images/a.png"))
        try Data(PNGEncoder.encodeGrey(mask, height: 40, width: 64)).write(
            to: URL(fileURLWithPath: dir + "/masks/a.png"))
        return dir
    }

    private let harmonize: JSONValue = ["crop_borders": true, "clahe": ["clip_limit": 3, "tile_grid": [2, 2]]]

    /// The check: the image a dataset trains on and the image `segment` runs on, for the same file, are
    /// the same tensor; a checkpoint carries the harmonization, so a fresh engine segments as the first did.
    func testInferenceRepeatsTrainingPreprocessingAlsoFromACheckpoint() throws {
        let dir = try writeDataset()
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        h.result(
            "dataset.open",
            [
                "name": "d", "images": .string(dir + "/images"), "masks": .string(dir + "/masks"),
                "harmonize": harmonize,
            ])
        let sample = h.result("dataset.sample", ["name": "d", "count": 1])
        let trained = float32Values(sample?["samples"]?[0]?["image"]?["array"])
        let session = h.dispatcher.session
        let prep = try XCTUnwrap(session.preprocessing)
        XCTAssertTrue(prep.harmonization.cropBorders)
        let input = try ImageInput.read(
            [["path": .string(dir + "/images/a.png")]], index: 0, params: ParamsReader([:]),
            model: try session.requireModel(), resize: true,
            normalization: prep.normalization, harmonization: prep.harmonization)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: input.tensor.data, count: input.tensor.count)), trained)
        XCTAssertEqual(input.region, LetterboxPlacement(top: 0, left: 12, height: 40, width: 40))

        let image: JSONObject = ["images": [["path": .string(dir + "/images/a.png")]], "encoding": "probabilities"]
        let first = float32Values(h.result("segment", image)?["masks"]?[0]?["probabilities"])
        let path = dir + "/m.safetensors"
        h.result("model.save", ["path": .string(path)])
        h.finish()

        let fresh = Harness()
        fresh.result("model.load", ["path": .string(path)])
        XCTAssertEqual(fresh.dispatcher.session.preprocessing?.harmonization, prep.harmonization)
        XCTAssertEqual(float32Values(fresh.result("segment", image)?["masks"]?[0]?["probabilities"]), first)
        // Asking for none changes the input, so the masks differ: the checkpoint's harmonization was in use.
        var plain = image
        plain["harmonize"] = [:]
        XCTAssertNotEqual(float32Values(fresh.result("segment", plain)?["masks"]?[0]?["probabilities"]), first)
        fresh.finish()
    }

    /// With `crop_borders`, the mask comes back at the letterboxed image's size, background in the bands, and
    /// inside them exactly what the cropped image alone gives.
    func testBorderCropIsUndoneOnTheMask() throws {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let (pixels, _) = letterboxedPair()
        var cropped: [UInt8] = []
        for y in 0..<40 { cropped += pixels[(y * 64 + 12)..<(y * 64 + 52)] }
        let full = h.result(
            "segment",
            [
                "images": [arrayImage(uint8: pixels, shape: [40, 64])],
                "encoding": "probabilities", "harmonize": ["crop_borders": true],
            ])
        let alone = h.result(
            "segment",
            [
                "images": [arrayImage(uint8: cropped, shape: [40, 40])],
                "encoding": "probabilities",
            ])
        XCTAssertEqual(full?["masks"]?[0]?["shape"], [40, 64])
        let f = float32Values(full?["masks"]?[0]?["probabilities"]),
            a = float32Values(alone?["masks"]?[0]?["probabilities"])
        for y in 0..<40 {
            for x in 0..<64 {
                if (12..<52).contains(x) {
                    XCTAssertEqual(f[y * 64 + x], a[y * 40 + x - 12])
                } else {
                    XCTAssertEqual(f[y * 64 + x], 0)
                }
            }
        }
        h.finish()
    }

    func testBadHarmonizeIsInvalidParamsNamingTheField() {
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        let image: JSONValue = [arrayImage(uint8: gradient(16, 16), shape: [16, 16])]
        let cases: [(JSONValue, String)] = [
            (["clahe": ["tile_grid": [0, 8]]], "harmonize.clahe.tile_grid[0]"),
            (["clahe": ["clip_limit": -1]], "harmonize.clahe.clip_limit"),
            (["equalize": true, "clahe": [:]], "harmonize.clahe"),
            (["percentiles": [99, 1]], "harmonize.percentiles"),
            (["border_tolerance": 300], "harmonize.border_tolerance"),
            (["crop": true], "harmonize.crop"),
            ("clahe", "harmonize"),
        ]
        for method in ["segment", "predict", "dataset.open"] {
            for (value, field) in cases {
                let params: JSONObject =
                    method == "dataset.open"
                    ? ["name": "p", "phantoms": ["count": 2, "size": [16, 16]], "harmonize": value]
                    : ["images": image, "harmonize": value]
                let r = h.call(method, params)
                if method == "predict" { continue }  // a unet without a class head is -32009 after the params
                XCTAssertEqual(r?["error"]?["code"], -32602, "\(method) \(value)")
                XCTAssertEqual(r?["error"]?["data"]?["field"]?.stringValue, field, "\(method) \(value)")
            }
        }
        h.assertAlive()
        h.finish()
    }
}
