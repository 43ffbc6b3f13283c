import Foundation
import UNetCore
import XCTest

@testable import UNetData

/// The preprocessing against scanner differences (issue 22) against scikit-image, OpenCV and numpy
/// (Tests/fixtures/make_shift_fixtures.py), and the border crop that a letterboxed image and its mask share.
final class HarmonizationTests: XCTestCase {
    private let fixtures = ShiftFixtures.shared

    func testHistogramEqualizationIsScikitImages() {
        for (n, c) in fixtures.equalize.enumerated() {
            let out = c.input.histogramEqualized().pixels
            let worst = zip(out, c.expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-3, "case \(n)")
        }
    }

    /// OpenCV's CLAHE, the level of every pixel within 1 (float blending rounds at .5 either way) and nearly all
    /// equal, for several clip limits and grids, sides that the grid divides and sides that it does not.
    func testCLAHEIsOpenCVs() {
        XCTAssertEqual(fixtures.clahe.count, 8)
        for (n, c) in fixtures.clahe.enumerated() {
            let clahe = CLAHE(clipLimit: c.clip_limit!, tileRows: c.tile_grid![0], tileColumns: c.tile_grid![1])
            let out = clahe.apply(to: c.input).pixels
            let diffs = zip(out, c.expected).map { abs($0 - $1) }
            XCTAssertLessThanOrEqual(diffs.max()!, 1, "case \(n)")
            XCTAssertGreaterThan(Double(diffs.filter { $0 == 0 }.count) / Double(diffs.count), 0.99, "case \(n)")
        }
    }

    func testPercentileWindowIsNumpys() {
        for c in fixtures.percentiles {
            var h = Harmonization()
            h.percentiles = c.percentiles
            let out = h.adjusted(c.input).pixels
            XCTAssertLessThan(zip(out, c.expected).map { abs($0 - $1) }.max()!, 1e-2)
        }
    }

    /// A 4:3 letterbox of a portrait image (black bands left and right, JPEG-like noise in them below the
    /// tolerance) is found to the pixel, and the crop undone puts the region back where it was.
    func testBorderCropFindsLetterboxBands() {
        var rng = RandomGenerator(seed: 5)
        let chest = Image(
            channels: 1, height: 60, width: 50, pixels: (0..<3000).map { _ in 40 + rng.nextFloat() * 180 })
        var (boxed, placement) = chest.letterboxed(height: 60, width: 80)
        for i in boxed.pixels.indices where boxed.pixels[i] == 0 { boxed.pixels[i] = rng.nextFloat() * 4 }
        let region = BorderCrop.region(of: boxed, tolerance: 8)
        XCTAssertEqual(region, placement)
        let back = boxed.cropped(to: region).uncropped(height: 60, width: 80, at: region)
        for y in 0..<60 { for x in 15..<65 { XCTAssertEqual(back.pixels[y * 80 + x], boxed.pixels[y * 80 + x]) } }
        XCTAssertEqual(back.pixels[0], 0)
        // Nothing to crop: no region, and a band never takes more than maximumFraction of a side.
        var h = Harmonization()
        h.cropBorders = true
        XCTAssertNil(h.cropRegion(of: chest))
        let black = BorderCrop.region(of: Image(channels: 1, height: 20, width: 20), tolerance: 8)
        XCTAssertEqual(black, LetterboxPlacement(top: 7, left: 7, height: 6, width: 6))
        // The region on a mask of another size (a DCT-scaled image beside its full-size mask).
        XCTAssertEqual(
            placement.scaled(from: (60, 80), to: (120, 160)),
            LetterboxPlacement(top: 0, left: 30, height: 120, width: 100))
    }

    /// A dataset sample's image and mask are cropped alike: the letterboxed mask's foreground lands where the
    /// image's bright pixels are after crop and resize.
    func testSampleCropsImageAndMaskAlike() throws {
        var pixels = [UInt8](repeating: 0, count: 40 * 64), mask = pixels
        for y in 0..<40 {
            for x in 12..<52 {
                pixels[y * 64 + x] = x < 32 ? 200 : 60
                mask[y * 64 + x] = x < 32 ? 255 : 0
            }
        }
        let image = ImageSource.bytes(try PNGEncoder.encodeGrey(pixels, height: 40, width: 64), name: "i.png")
        let maskSource = ImageSource.bytes(try PNGEncoder.encodeGrey(mask, height: 40, width: 64), name: "m.png")
        var prep = Preprocessing(channels: 1, height: 20, width: 20)
        prep.harmonization.cropBorders = true
        let (x, m) = try prep.loadSample(image, mask: maskSource)
        XCTAssertEqual(x.pixels[10 * 20 + 2], 200, accuracy: 1)  // the chest fills the input: no band left
        XCTAssertEqual(x.pixels[10 * 20 + 17], 60, accuracy: 1)
        for i in x.pixels.indices where abs(x.pixels[i] - 130) > 60 {
            XCTAssertEqual(m!.pixels[i], x.pixels[i] > 130 ? 1 : 0)
        }
    }

    /// The checkpoint's preprocessing metadata carries the harmonization, so inference can repeat it.
    func testHarmonizationTravelsWithThePreprocessing() throws {
        var prep = Preprocessing(channels: 1, height: 32, width: 32)
        prep.harmonization.cropBorders = true
        prep.harmonization.percentiles = [1, 99]
        prep.harmonization.clahe = CLAHE(clipLimit: 3, tileRows: 4, tileColumns: 2)
        let json = try JSONEncoder().encode(prep)
        XCTAssertEqual(try JSONDecoder().decode(Preprocessing.self, from: json), prep)
        // Older checkpoints have none.
        let old = try JSONDecoder().decode(Preprocessing.self, from: Data(#"{"channels":1,"height":8,"width":8}"#.utf8))
        XCTAssertEqual(old.harmonization, .none)
        XCTAssertThrowsError(try JSONDecoder().decode(Harmonization.self, from: Data(#"{"percentiles":[9,2]}"#.utf8)))
    }
}
