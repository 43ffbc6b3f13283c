import Foundation
import XCTest

@testable import UNetData

/// Paths to the committed fixtures (written by Tests/fixtures/make_image_fixtures.py) and to the shared data.
enum Fixtures {
    static let directory: String = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.path

    static func path(_ name: String) -> String { directory + "/" + name }

    /// One entry of expected.json: Pillow's decoding of a fixture.
    struct Expected: Decodable {
        var shape: [Int]
        var dtype: String
    }

    static let expected: [String: Expected] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: path("expected.json")))
        return try! JSONDecoder().decode([String: Expected].self, from: data)
    }()

    /// Pillow's pixels for `name`, planar (C, H, W) on the 0...255 scale (16-bit values divided by 257).
    static func pillowPixels(_ name: String) -> (shape: [Int], pixels: [Float]) {
        let entry = expected[name]!
        let data = try! Data(contentsOf: URL(fileURLWithPath: path(name + ".expected")))
        let (h, w, c) = (entry.shape[0], entry.shape[1], entry.shape[2])
        var values = [Float](repeating: 0, count: h * w * c)
        if entry.dtype == "uint16" {
            for i in 0..<(h * w * c) { values[i] = Float(UInt16(data[2 * i]) | UInt16(data[2 * i + 1]) << 8) / 257 }
        } else {
            for i in 0..<(h * w * c) { values[i] = Float(data[i]) }
        }
        var planar = [Float](repeating: 0, count: values.count)
        for y in 0..<h {
            for x in 0..<w { for k in 0..<c { planar[(k * h + y) * w + x] = values[(y * w + x) * c + k] } }
        }
        return ([c, h, w], planar)
    }

    /// `<repo>/../shared/data`, or nil (tests then skip).
    static var sharedData: String? {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/UNetDataTests/FixtureSupport.swift -> repo
        let data = url.deletingLastPathComponent().appendingPathComponent("shared/data").path
        return FileManager.default.fileExists(atPath: data) ? data : nil
    }

    static func requireSharedData() throws -> String {
        guard let root = sharedData else { throw XCTSkip("../shared/data is absent; real-data test skipped") }
        return root
    }
}

/// Tests/UNetDataTests/Fixtures/shift.json (written by Tests/fixtures/make_shift_fixtures.py): scikit-image's,
/// OpenCV's, numpy's and scipy.ndimage's results for the shift-robustness steps.
struct ShiftFixtures: Decodable {
    struct Intensity: Decodable {
        var shape: [Int]
        var image: [Float]
        var expected: [Float]
        var clip_limit: Double?
        var tile_grid: [Int]?
        var percentiles: [Double]?

        var input: Image { Image(channels: 1, height: shape[0], width: shape[1], pixels: image) }
    }

    struct Components: Decodable {
        var shape: [Int]
        var mask: [Float]
        var sizes_4: [Int]
        var sizes_8: [Int]
        var labels_4: [Int]
        var labels_8: [Int]
        var filled: [Float]
        var opened_1: [Float]
        var chain: [Float]
    }

    var equalize: [Intensity]
    var clahe: [Intensity]
    var percentiles: [Intensity]
    var components: [Components]

    static let shared: ShiftFixtures = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("shift.json")))
        return try! JSONDecoder().decode(ShiftFixtures.self, from: data)
    }()
}
