import Foundation
import XCTest

@testable import UNetData

final class PhantomTests: XCTestCase {
    func testDeterministicPerSeedAndIndex() {
        let a = PhantomGenerator(seed: 7, height: 48, width: 40)
        let b = PhantomGenerator(seed: 7, height: 48, width: 40)
        XCTAssertEqual(a.render(3).image, b.render(3).image)
        XCTAssertEqual(a.render(3).mask, b.render(3).mask)
        XCTAssertNotEqual(a.render(3).image, a.render(4).image)
        XCTAssertNotEqual(a.render(3).image, PhantomGenerator(seed: 8, height: 48, width: 40).render(3).image)
        for i in 0..<20 { XCTAssertEqual(a.label(i), a.render(i).label) }
    }

    func testAnatomyIsPlausible() {
        let g = PhantomGenerator(seed: 1, height: 96, width: 96)
        var positives = 0
        for i in 0..<40 {
            let (image, mask, label) = g.render(i)
            positives += label
            let lung = mask.pixels.enumerated().filter { $0.element > 0 }.map { image.pixels[$0.offset] }
            let other = mask.pixels.enumerated().filter { $0.element == 0 }.map { image.pixels[$0.offset] }
            let fraction = Float(lung.count) / Float(mask.pixels.count)
            XCTAssertGreaterThan(fraction, 0.12, "phantom \(i): lungs too small")
            XCTAssertLessThan(fraction, 0.45, "phantom \(i): lungs too large")
            // Both lung fields: foreground on each side of the image.
            let left = (0..<96).contains { y in (0..<40).contains { mask[0, y, $0] > 0 } }
            let right = (0..<96).contains { y in (56..<96).contains { mask[0, y, $0] > 0 } }
            XCTAssertTrue(left && right, "phantom \(i): two lung fields")
            if label == 0 {
                // Without consolidation, the lungs are clearly darker than the rest of the body.
                let lungMean = lung.reduce(0, +) / Float(lung.count)
                let bodyMean = other.filter { $0 > 60 }.reduce(0, +) / Float(max(other.filter { $0 > 60 }.count, 1))
                XCTAssertLessThan(lungMean + 40, bodyMean, "phantom \(i)")
            }
            XCTAssertTrue(image.pixels.allSatisfy { $0 >= 0 && $0 <= 255 })
        }
        XCTAssertGreaterThan(positives, 10)
        XCTAssertLessThan(positives, 30)
    }

    /// Consolidation makes the lungs brighter on average than in normal phantoms: the label is visible.
    func testConsolidationBrightensLungs() {
        let g = PhantomGenerator(seed: 2, height: 64, width: 64)
        var means: [[Float]] = [[], []]
        for i in 0..<60 {
            let (image, mask, label) = g.render(i)
            let lung = mask.pixels.enumerated().filter { $0.element > 0 }.map { image.pixels[$0.offset] }
            means[label].append(lung.reduce(0, +) / Float(lung.count))
        }
        let normal = means[0].reduce(0, +) / Float(means[0].count)
        let sick = means[1].reduce(0, +) / Float(means[1].count)
        XCTAssertGreaterThan(sick, normal + 3)
    }

    /// Writes a few phantoms as PNGs for a human to look at (only with UNET_DUMP_PHANTOMS=<folder>).
    func testDumpForInspection() throws {
        guard let folder = ProcessInfo.processInfo.environment["UNET_DUMP_PHANTOMS"] else {
            throw XCTSkip("set UNET_DUMP_PHANTOMS=<folder> to write phantom PNGs")
        }
        let g = PhantomGenerator(seed: 5, height: 256, width: 256)
        for i in 0..<6 {
            let (image, mask, label) = g.render(i)
            let png = try PNGEncoder.encodeGrey(image.pixels.map { UInt8($0.rounded()) }, height: 256, width: 256)
            try Data(png).write(to: URL(fileURLWithPath: "\(folder)/phantom\(i)_label\(label).png"))
            let m = try PNGEncoder.encodeGrey(mask.pixels.map { UInt8($0) }, height: 256, width: 256)
            try Data(m).write(to: URL(fileURLWithPath: "\(folder)/phantom\(i)_mask.png"))
        }
    }
}
