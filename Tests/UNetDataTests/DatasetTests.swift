import Foundation
import UNetCore
import XCTest

@testable import UNetData

/// Dataset sources, the grouped split, augmentation alignment, and the real data's counts.
final class DatasetTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "unet-ds-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes a small grey PNG whose pixels are `value`.
    func writePNG(_ path: String, value: UInt8, size: Int = 8) throws {
        let png = try PNGEncoder.encodeGrey([UInt8](repeating: value, count: size * size), height: size, width: size)
        try Data(png).write(to: URL(fileURLWithPath: path))
    }

    func testClassFoldersSortClassesCountThemAndSkipBadFiles() throws {
        for cls in ["b_sick", "a_well"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/\(cls)", withIntermediateDirectories: true)
        }
        for i in 0..<3 { try writePNG("\(dir!)/a_well/w\(i).png", value: 10) }
        for i in 0..<2 { try writePNG("\(dir!)/b_sick/s\(i).png", value: 200) }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: "\(dir!)/b_sick/broken.png"))
        try Data().write(to: URL(fileURLWithPath: "\(dir!)/b_sick/empty.jpg"))
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: "\(dir!)/b_sick/notes.txt"))
        let (samples, classes, skipped) = try DatasetSources.classFolders(dir)
        XCTAssertEqual(classes, ["a_well", "b_sick"])
        XCTAssertEqual(samples.map { $0.label! }, [0, 0, 0, 1, 1])
        XCTAssertEqual(Set(skipped.map { ($0.path as NSString).lastPathComponent }), ["broken.png", "empty.jpg"])
        XCTAssertTrue(skipped.allSatisfy { !$0.error.isEmpty })
        let d = Dataset(
            name: "d", task: .classification, samples: samples, classNames: classes,
            preprocessing: Preprocessing(channels: 1, height: 4, width: 4))
        XCTAssertEqual(d.classCounts, [3, 2])
        let b = try d.batch(indices: [0, 4], epoch: 0, augment: false)
        XCTAssertEqual(b.images.shape, [2, 1, 4, 4])
        XCTAssertEqual(b.labels, [0, 1])
        XCTAssertEqual(b.images[0], 10 / 255, accuracy: 1e-6)
        XCTAssertEqual(b.images[16], 200 / 255, accuracy: 1e-6)
    }

    func testImagesAndMasksMatchByNameAndManifestsResolveRelativePaths() throws {
        for d in ["img", "msk"] {
            try FileManager.default.createDirectory(atPath: "\(dir!)/\(d)", withIntermediateDirectories: true)
        }
        try writePNG("\(dir!)/img/a.png", value: 50); try writePNG("\(dir!)/msk/a.png", value: 255)
        try writePNG("\(dir!)/img/b.png", value: 60)  // no mask
        let (samples, skipped) = try DatasetSources.imageMaskFolders(images: "\(dir!)/img", masks: "\(dir!)/msk")
        XCTAssertEqual(samples.count, 1)
        XCTAssertTrue(skipped[0].error.contains("no mask"))
        try "path,label,mask\nimg/a.png,sick,msk/a.png\nimg/b.png,well,\n".write(
            toFile: "\(dir!)/m.csv", atomically: true, encoding: .utf8)
        let m = try DatasetSources.manifest("\(dir!)/m.csv")
        XCTAssertEqual(m.classes, ["sick", "well"])
        XCTAssertEqual(m.samples.map { $0.label }, [0, 1])
        XCTAssertNotNil(m.samples[0].mask)
        XCTAssertNil(m.samples[1].mask)
        try "{\"path\": \"img/a.png\", \"label\": 1}\n".write(
            toFile: "\(dir!)/m.jsonl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try DatasetSources.manifest("\(dir!)/m.jsonl").samples.first?.label, 1)
    }

    func testSplitKeepsEveryGroupOnOneSideAndIsSeeded() throws {
        // Kermany-like names: several images per patient.
        let names = (0..<60).map { "person\($0 / 3)_bacteria_\($0).jpeg" }
        let samples = names.map { Sample(image: .file("/x/\($0)"), label: 0) }
        let (train, val) = try DatasetSources.split(samples, fraction: 0.2, groupPattern: #"person\d+"#, seed: 4)
        XCTAssertEqual(Set(train).union(val).count, 60)
        XCTAssertTrue(Set(train).isDisjoint(with: val))
        XCTAssertEqual(val.count, 12)
        func patients(_ idx: [Int]) -> Set<Int> { Set(idx.map { $0 / 3 }) }
        XCTAssertTrue(patients(train).isDisjoint(with: patients(val)), "a patient on both sides")
        let again = try DatasetSources.split(samples, fraction: 0.2, groupPattern: #"person\d+"#, seed: 4)
        XCTAssertEqual(again.validation, val)
        XCTAssertNotEqual(
            try DatasetSources.split(samples, fraction: 0.2, groupPattern: #"person\d+"#, seed: 5).validation, val)
        XCTAssertThrowsError(try DatasetSources.split(samples, fraction: 0.2, groupPattern: "([", seed: 1))
    }

    /// An image of bright and dark pixels and the mask of its bright ones.
    private func brightPixelsAndTheirMask() -> (Image, Image) {
        var image = Image(channels: 1, height: 48, width: 40)
        var rng = RandomGenerator(seed: 3)
        for i in 0..<image.pixels.count { image.pixels[i] = rng.nextFloat() < 0.3 ? 230 : 20 }
        return (image, Image(channels: 1, height: 48, width: 40, pixels: image.pixels.map { $0 > 128 ? 1 : 0 }))
    }

    /// The issue's check: a mask drawn from the image itself (bright pixels) still marks the bright pixels after
    /// the same random transform is applied to both; and the same seed gives the same result bit for bit.
    /// `always`: every draw changes the image (random letterbox bands come only half the time).
    private func assertAligned(
        _ aug: Augmentation, trials: Int = 10, always: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        let (image, mask) = brightPixelsAndTheirMask()
        for trial in 0..<trials {
            var r = RandomGenerator(seed: UInt64(trial))
            let (out, outMask) = aug.apply(image, mask: mask, rng: &r)
            if always {
                XCTAssertTrue(out.pixels != image.pixels, "trial \(trial) changed nothing", file: file, line: line)
            }
            // Bilinear resampling blurs edges; nearest-neighbour masks agree with the image wherever the image is
            // clearly bright or dark.
            var agree = 0, clear = 0
            for i in 0..<out.pixels.count where out.pixels[i] > 200 || out.pixels[i] < 50 {
                clear += 1
                if (out.pixels[i] > 200) == (outMask!.pixels[i] == 1) { agree += 1 }
            }
            XCTAssertGreaterThan(Double(agree) / Double(clear), 0.97, "trial \(trial)", file: file, line: line)
            var again = RandomGenerator(seed: UInt64(trial))
            let (repeated, repeatedMask) = aug.apply(image, mask: mask, rng: &again)
            XCTAssertEqual(repeated.pixels, out.pixels, "trial \(trial) is not repeatable", file: file, line: line)
            XCTAssertEqual(repeatedMask, outMask, file: file, line: line)
        }
    }

    func testAugmentationKeepsImageAndMaskAligned() {
        let (image, mask) = brightPixelsAndTheirMask()
        var aug = Augmentation()
        aug.rotation = 25; aug.shear = 10; aug.zoom = 0.2; aug.shift = 0.1; aug.horizontalFlip = true
        assertAligned(aug)
        // Identity settings return the inputs untouched, and the same draw repeats for the same seed.
        var r1 = RandomGenerator(seed: 9), r2 = RandomGenerator(seed: 9)
        XCTAssertEqual(aug.apply(image, mask: mask, rng: &r1).0, aug.apply(image, mask: mask, rng: &r2).0)
        var r3 = RandomGenerator(seed: 9)
        XCTAssertEqual(Augmentation().apply(image, mask: mask, rng: &r3).0, image)
    }

    /// Issue 22's augmentations keep the alignment, alone and together with wide scale and translation, and
    /// repeat bit for bit.
    func testShiftAugmentationKeepsImageAndMaskAligned() {
        var elastic = Augmentation()
        elastic.elasticAlpha = 40; elastic.elasticSigma = 4
        assertAligned(elastic)
        var bands = Augmentation()
        bands.letterboxPad = 0.3
        assertAligned(bands, always: false)
        var all = Augmentation()
        all.rotation = 10; all.zoomRange = [0.7, 1.4]; all.widthShift = 0.2; all.heightShift = 0.2
        all.elasticAlpha = 30; all.elasticSigma = 5; all.letterboxPad = 0.25
        all.gammaRange = [0.8, 1.25]; all.blur = 0.4; all.noise = 0.01; all.contrast = 0.1; all.brightness = 0.02
        assertAligned(all)
    }

    /// Each intensity step does what it says, and adding the new steps leaves older settings' draws as they were.
    func testShiftIntensityStepsAndOlderSequences() {
        let image = Image(channels: 1, height: 16, width: 16, pixels: (0..<256).map { Float($0) })
        func once(_ aug: Augmentation, seed: UInt64 = 1) -> Image {
            var r = RandomGenerator(seed: seed)
            return aug.apply(image, mask: nil, rng: &r).0
        }
        var gamma = Augmentation()
        gamma.gammaRange = [2, 2]
        XCTAssertEqual(once(gamma).pixels[128], 255 * pow(128 / 255, 2), accuracy: 1e-3)
        var blur = Augmentation()
        blur.blur = 3
        let blurred = once(blur)
        XCTAssertLessThan(zip(blurred.pixels, image.pixels).map { abs($0 - $1) }.max()!, 255)
        XCTAssertNotEqual(blurred.pixels, image.pixels)
        var noise = Augmentation()
        noise.noise = 0.1
        XCTAssertNotEqual(once(noise).pixels, once(noise, seed: 2).pixels)
        var bands = Augmentation()
        bands.letterboxPad = 0.5
        let padded = (1...8).map { once(bands, seed: $0) }.first { $0.pixels[0] == 0 && $0.pixels[255] == 0 }
        XCTAssertNotNil(padded, "half the draws letterbox")
        // A setting that existed before draws exactly as before: the new steps are off and draw nothing.
        var old = Augmentation()
        old.rotation = 20
        var withOff = old
        withOff.elasticSigma = 3  // a parameter of a step that is off
        XCTAssertEqual(once(old), once(withOff))
    }

    func testBatchesRepeatForTheSameEpochAndDifferAcrossEpochs() throws {
        let samples = DatasetSources.phantoms(count: 4, height: 32, width: 32, seed: 1)
        var aug = Augmentation()
        aug.rotation = 15
        let d = Dataset(
            name: "p", task: .segmentation, samples: samples, classNames: PhantomGenerator.classes,
            preprocessing: Preprocessing(channels: 1, height: 32, width: 32), augmentation: aug, seed: 2,
            cacheLimitBytes: 1 << 20)
        let a = try d.batch(indices: [1, 2], epoch: 3, augment: true)
        let b = try d.batch(indices: [2, 1], epoch: 3, augment: true)
        XCTAssertEqual(
            Array(a.images.array[0..<1024]), Array(b.images.array[1024..<2048]), "per-sample, not per-position")
        XCTAssertNotEqual(a.images.array, try d.batch(indices: [1, 2], epoch: 4, augment: true).images.array)
        XCTAssertGreaterThan(d.cacheBytes, 0)
        XCTAssertEqual(a.masks?.shape, [2, 1, 32, 32])
        XCTAssertTrue(a.masks!.array.allSatisfy { $0 == 0 || $0 == 1 })
    }

    func testFullResolutionJPEGsDecodeWithAndWithoutDCTScaling() throws {
        let root = sharedData + "/pneumonia-fullres"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: root), "\(root) is absent")
        var count = 0
        for cls in ["NORMAL", "PNEUMONIA"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + cls) {
                let path = root + "/" + cls + "/" + name
                let info = try ImageDecoder.probe(path: path)
                let full = try ImageDecoder.decode(path: path, channels: 1)
                XCTAssertEqual([full.height, full.width], [info.height, info.width], name)
                // DCT scaling decodes smaller, but never below the requested size.
                let scaled = try ImageDecoder.decode(path: path, channels: 1, atLeast: (224, 224))
                XCTAssertLessThanOrEqual(scaled.width, full.width, name)
                XCTAssertGreaterThanOrEqual(min(scaled.height, scaled.width), min(224, full.height, full.width), name)
                count += 1
            }
        }
        XCTAssertEqual(count, 40)
    }

    /// Resizing against values worked by hand: area averaging when shrinking, nearest for masks.
    func testResizeAgainstHandWorkedValues() {
        let image = Image(channels: 1, height: 2, width: 4, pixels: [0, 2, 4, 6, 8, 10, 12, 14])
        XCTAssertEqual(image.resized(height: 1, width: 2, filter: .area).pixels, [5, 9], "2x2 block means")
        XCTAssertEqual(image.resized(height: 2, width: 2, filter: .nearest).pixels.count, 4)
        let up = Image(channels: 1, height: 1, width: 2, pixels: [0, 8]).resized(height: 1, width: 4, filter: .area)
        // Growing is bilinear with half-pixel centres: output x maps to (x + 0.5) / 2 - 0.5 → 0 (clamped), 0.25,
        // 0.75, 1 (clamped).
        XCTAssertEqual(up.pixels, [0, 2, 6, 8])
    }

    // MARK: The real data (skipped when ../shared/data is absent)

    var sharedData: String {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared/data").path
    }

    func testKermanyTrainFoldersOpenWithTheirCounts() throws {
        let root = sharedData + "/pneumonia/train"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: root), "\(root) is absent")
        let (samples, classes, skipped) = try DatasetSources.classFolders(root)
        XCTAssertEqual(classes, ["NORMAL", "PNEUMONIA"])
        XCTAssertEqual(samples.filter { $0.label == 0 }.count, 1341)
        XCTAssertEqual(samples.filter { $0.label == 1 }.count, 3875)
        XCTAssertEqual(skipped, [])
    }

    func testShenzhenLungMasksOpenAsPairs() throws {
        let root = sharedData + "/lungseg"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: root), "\(root) is absent")
        let (samples, skipped) = try DatasetSources.imageMaskFolders(images: root + "/images", masks: root + "/masks")
        XCTAssertEqual(samples.count, 566)
        XCTAssertEqual(skipped, [])
        let d = Dataset(
            name: "l", task: .segmentation, samples: samples, classNames: [],
            preprocessing: Preprocessing(channels: 1, height: 128, width: 128))
        let b = try d.batch(indices: [0], epoch: 0, augment: false)
        let fg = b.masks!.array.reduce(0, +) / Float(128 * 128)
        XCTAssertTrue((0.1...0.6).contains(fg), "lungs cover \(fg) of the image")
    }
}
