import Foundation
import XCTest

@testable import UNetCore
@testable import UNetData
@testable import UNetProtocol

/// The conventions users bring from Keras, PyTorch, MONAI and segmentation_models.pytorch (issue 13, items 10, 11,
/// 13, 16, 17, 19, 20), through the dispatcher as a host drives it.
final class ConventionsTests: XCTestCase {
    // MARK: Item 10: a new model starts every dataset from its beginning

    func testTheSameCallsTwiceInOneSessionGiveTheSameLossesAndEpochsFromZero() throws {
        let h = Harness()
        h.result(
            "dataset.open",
            [
                "name": "ph", "phantoms": ["count": 8, "size": [16, 16], "seed": 3],
                "validation_split": 0.25,
            ])
        func run() throws -> [JSONValue] {
            h.result("model.create", merged(Harness.tinyUNet, ["seed": 0]))
            h.result("train.configure", ["seed": 0, "batch_size": 2, "learning_rate": 0.01])
            let r = try XCTUnwrap(h.result("train.fit", ["dataset": "ph", "validation": "ph.val", "epochs": 2]))
            return try XCTUnwrap(r["history"]?.arrayValue)
        }
        let first = try run(), second = try run()
        XCTAssertEqual(first.map { $0["epoch"] }, [0, 1])
        XCTAssertEqual(second.map { $0["epoch"] }, [0, 1], "History numbers a new model's epochs from 0")
        XCTAssertEqual(first.map { $0["loss"] }, second.map { $0["loss"] }, "bit-identical losses")
        XCTAssertEqual(first.map { $0["val_loss"] }, second.map { $0["val_loss"] })
        // train.step too: the first step after a new model is batch 1 of epoch 0.
        h.result("model.create", Harness.tinyUNet)
        XCTAssertEqual(h.result("train.step", ["dataset": "ph"])?["epoch"], 0)
        XCTAssertEqual(h.result("train.step", ["dataset": "ph"])?["batch_in_epoch"], 2)
        h.finish()
    }

    // MARK: Item 11: monitors name a metric the fit reports

    func testAMonitorTheFitNeverReportsIsRefusedWithTheChoices() throws {
        let h = Harness()
        h.result(
            "dataset.open", ["name": "ph", "phantoms": ["count": 8, "size": [16, 16]], "validation_split": 0.25])
        h.result("model.create", Harness.tinyUNet)
        let typo = h.call(
            "train.fit",
            [
                "dataset": "ph", "validation": "ph.val",
                "callbacks": ["early_stopping": ["monitor": "val_dise"]],
            ])
        XCTAssertEqual(typo?["error"]?["code"], -32602)
        XCTAssertEqual(typo?["error"]?["data"]?["field"], "callbacks.early_stopping.monitor")
        let reason = try XCTUnwrap(typo?["error"]?["data"]?["reason"]?.stringValue)
        for name in ["\"loss\"", "\"dice\"", "\"val_loss\"", "\"val_dice\"", "\"val_iou\""] {
            XCTAssertTrue(reason.contains(name), "\(name) in \(reason)")
        }
        XCTAssertFalse(reason.contains("\"val_accuracy\""), "a mask-only model reports no accuracy: \(reason)")
        // Without validation, val_loss (the default) never comes.
        let noValidation = h.call(
            "train.fit", ["dataset": "ph", "callbacks": ["reduce_lr_on_plateau": ["patience": 1]]])
        XCTAssertEqual(noValidation?["error"]?["data"]?["field"], "callbacks.reduce_lr_on_plateau.monitor")
        XCTAssertTrue(noValidation?["error"]?["data"]?["reason"]?.stringValue?.contains("need validation") ?? false)
        let checkpoint = h.call(
            "train.fit",
            [
                "dataset": "ph",
                "callbacks": [
                    "checkpoint": ["path": "/tmp/x.safetensors", "monitor": "val_loss", "save_best_only": true]
                ],
            ])
        XCTAssertEqual(checkpoint?["error"]?["data"]?["field"], "callbacks.checkpoint.monitor")
        // A metric the fit reports is fine; so is a checkpoint saving every epoch without validation.
        XCTAssertNotNil(h.result("train.fit", ["dataset": "ph", "callbacks": ["early_stopping": ["monitor": "dice"]]]))
        XCTAssertEqual(h.result("train.fit", ["dataset": "ph"])?["epoch"], 2, "nothing was trained by the refused fits")
        h.finish()
    }

    // MARK: Item 13: dataset.sample is capped and cancellable

    func testDatasetSampleRefusesPastItsBudgetAndStopsWhenCancelled() throws {
        let h = Harness()
        h.result(
            "dataset.open",
            [
                "name": "big", "phantoms": ["count": 64, "size": [1024, 1024]],
                "input_shape": [3, 2048, 2048],
            ])
        let capped = h.call("dataset.sample", ["name": "big", "count": 3])
        XCTAssertEqual(capped?["error"]?["code"], -32602)
        XCTAssertEqual(capped?["error"]?["data"]?["field"], "count")
        XCTAssertTrue(
            capped?["error"]?["data"]?["reason"]?.stringValue?.contains("at most 2") ?? false,
            "\(String(describing: capped))")

        h.result("dataset.open", ["name": "slow", "phantoms": ["count": 64, "size": [256, 256]], "cache_mb": 0])
        let id: JSONValue = "sample"
        h.send(id: id, "dataset.sample", ["name": "slow", "count": 64])
        h.waitUntilRunning(id)
        h.result("cancel", ["id": id])
        XCTAssertEqual(h.response(id)?["error"]?["code"], -32800, "cancelled between samples")
        h.assertAlive()
        h.finish()
    }

    // MARK: Item 16: Keras' ImageDataGenerator names, and nested unknown keys listing the known ones

    func testKerasAugmentationNamesAreAcceptedAndUnknownNestedKeysListTheKnownOnes() throws {
        let h = Harness()
        let keras: JSONObject = [
            "rotation_range": 10, "width_shift_range": 0.1, "height_shift_range": 2,
            "shear_range": 5, "zoom_range": [0.9, 1.2], "horizontal_flip": true,
            "vertical_flip": true, "brightness_range": [0.8, 1.2], "fill_mode": "reflect",
        ]
        XCTAssertNotNil(
            h.result(
                "dataset.open", ["name": "k", "phantoms": ["count": 4, "size": [32, 32]], "augment": .object(keras)]))
        let a = h.result("dataset.sample", ["name": "k", "count": 2, "augment": true])
        XCTAssertEqual(a, h.result("dataset.sample", ["name": "k", "count": 2, "augment": true]), "seeded")
        XCTAssertNotEqual(a, h.result("dataset.sample", ["name": "k", "count": 2, "augment": false]))

        let typo = h.call("dataset.open", ["name": "x", "phantoms": ["count": 4], "augment": ["rotaton": 5]])
        XCTAssertEqual(typo?["error"]?["data"]?["field"], "augment.rotaton")
        let reason = typo?["error"]?["data"]?["reason"]?.stringValue ?? ""
        XCTAssertTrue(
            reason.contains("known:") && reason.contains("rotation_range") && reason.contains("vertical_flip"), reason)
        let nested = h.call("dataset.open", ["name": "x", "phantoms": ["count": 4, "sise": [8, 8]]])
        XCTAssertTrue(
            nested?["error"]?["data"]?["reason"]?.stringValue?.contains("known: count, seed, size") ?? false,
            "\(String(describing: nested))")
        h.result("model.create", Harness.tinyUNet)
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 4, "size": [16, 16]]])
        let cb = h.call(
            "train.fit", ["dataset": "ph", "callbacks": ["early_stopping": ["monitor": "loss", "patiense": 2]]])
        XCTAssertEqual(cb?["error"]?["data"]?["field"], "callbacks.early_stopping.patiense")
        XCTAssertTrue(cb?["error"]?["data"]?["reason"]?.stringValue?.contains("patience") ?? false)
        let cbKind = h.call("train.fit", ["dataset": "ph", "callbacks": ["early_stoping": [:]]])
        XCTAssertTrue(
            cbKind?["error"]?["data"]?["reason"]?.stringValue?.contains("known: checkpoint, csv_logger, early_stopping")
                ?? false)

        // An image object lists all its forms, not only the one it was read as.
        let png = Data(try PNGEncoder.encodeGrey(gradient(16, 16), height: 16, width: 16)).base64EncodedString()
        let image = h.call("segment", ["images": [["png": .string(png), "bogus": 1]]])
        XCTAssertEqual(image?["error"]?["data"]?["field"], "images[0].bogus")
        XCTAssertTrue(
            image?["error"]?["data"]?["reason"]?.stringValue?.contains("known: array, jpeg, path, png") ?? false,
            "\(String(describing: image))")
        let both = h.call(
            "dataset.open", ["name": "x", "phantoms": ["count": 4], "augment": ["rotation": 5, "rotation_range": 5]])
        XCTAssertEqual(both?["error"]?["data"]?["field"], "augment.rotation_range")
        let rescale = h.call("dataset.open", ["name": "x", "phantoms": ["count": 4], "augment": ["rescale": 0.0039]])
        XCTAssertEqual(rescale?["error"]?["data"]?["field"], "augment.rescale")
        XCTAssertTrue(rescale?["error"]?["data"]?["reason"]?.stringValue?.contains("normalization") ?? false)
        let fill = h.call("dataset.open", ["name": "x", "phantoms": ["count": 4], "augment": ["fill_mode": "mirror"]])
        XCTAssertTrue(fill?["error"]?["data"]?["reason"]?.stringValue?.contains("\"wrap\"") ?? false)
        h.finish()
    }

    func testVerticalFlipMovesImageAndMaskTogether() {
        var aug = Augmentation()
        aug.verticalFlip = true
        let (h, w) = (6, 5)
        let image = UNetData.Image(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { Float($0 * 7 % 256) })
        let mask = UNetData.Image(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { $0 / w < 2 ? 1 : 0 })
        func flipped(_ i: UNetData.Image) -> [Float] {
            (0..<h).reversed().flatMap { y in i.pixels[(y * w)..<((y + 1) * w)] }
        }
        var sawFlip = false, sawSame = false
        for seed in 0..<16 {
            var rng = RandomGenerator(seed: UInt64(seed))
            let (a, m) = aug.apply(image, mask: mask, rng: &rng)
            if a.pixels == flipped(image) {
                sawFlip = true
                XCTAssertEqual(m?.pixels, flipped(mask), "the mask flips with its image")
            } else {
                sawSame = true
                XCTAssertEqual(a.pixels, image.pixels)
                XCTAssertEqual(m?.pixels, mask.pixels)
            }
        }
        XCTAssertTrue(sawFlip && sawSame, "half the draws flip")
    }

    func testFillModesReadOutsideTheImageAsKerasDoes() {
        var aug = Augmentation()
        let n = 4
        aug.fillMode = .nearest
        XCTAssertEqual([-2, -1, 4, 5].map { aug.source($0, n) }, [0, 0, 3, 3])
        aug.fillMode = .reflect
        XCTAssertEqual([-2, -1, 4, 5].map { aug.source($0, n) }, [1, 0, 3, 2], "dcba|abcd|dcba")
        aug.fillMode = .wrap
        XCTAssertEqual([-2, -1, 4, 5].map { aug.source($0, n) }, [2, 3, 0, 1], "abcd|abcd|abcd")
        aug.fillMode = .constant
        XCTAssertEqual([-1, 4].map { aug.source($0, n) }, [nil, nil])
        // A shift under a constant fill brings in cval in the image and background in the mask.
        aug.widthShift = 3  // pixels, as Keras reads a range >= 1
        aug.fillValue = 200
        let image = UNetData.Image(channels: 1, height: 4, width: 8, pixels: [Float](repeating: 10, count: 32))
        let mask = UNetData.Image(channels: 1, height: 4, width: 8, pixels: [Float](repeating: 1, count: 32))
        var rng = RandomGenerator(seed: 5)
        let (a, m) = aug.apply(image, mask: mask, rng: &rng)
        XCTAssertTrue(a.pixels.contains(200) || a.pixels.contains { $0 > 10 }, "cval came in: \(a.pixels)")
        XCTAssertTrue(m?.pixels.contains(0) ?? false, "the mask's background came in")
    }

    // MARK: Item 17: callbacks as a list, per-image classification, listing files, shuffled samples

    func testCallbacksAsAKerasStyleList() throws {
        let dir = NSTemporaryDirectory() + "cb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = Harness()
        h.result(
            "dataset.open", ["name": "ph", "phantoms": ["count": 8, "size": [16, 16]], "validation_split": 0.25])
        h.result("model.create", Harness.tinyUNet)
        let r = h.result(
            "train.fit",
            [
                "dataset": "ph", "validation": "ph.val", "epochs": 2,
                "callbacks": [
                    ["name": "EarlyStopping", "monitor": "val_dice", "patience": 5],
                    ["name": "checkpoint", "path": .string(dir + "/e{epoch}.safetensors")],
                ],
            ])
        XCTAssertEqual(r?["best"]?["monitor"], "val_dice")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/e2.safetensors"))
        let twice = h.call(
            "train.fit",
            [
                "dataset": "ph",
                "callbacks": [
                    ["name": "checkpoint", "path": "/tmp/a"],
                    ["name": "ModelCheckpoint", "path": "/tmp/b"],
                ],
            ])
        XCTAssertEqual(twice?["error"]?["data"]?["field"], "callbacks[1].name")
        let unknown = h.call("train.fit", ["dataset": "ph", "callbacks": [["name": "LambdaCallback"]]])
        XCTAssertEqual(unknown?["error"]?["data"]?["field"], "callbacks[0].name")
        XCTAssertTrue(unknown?["error"]?["data"]?["reason"]?.stringValue?.contains("\"EarlyStopping\"") ?? false)
        let extra = h.call(
            "train.fit", ["dataset": "ph", "callbacks": [["name": "early_stopping", "monitor": "loss", "x": 1]]])
        XCTAssertEqual(extra?["error"]?["data"]?["field"], "callbacks[0].x")
        XCTAssertTrue(extra?["error"]?["data"]?["reason"]?.stringValue?.contains("name") ?? false)
        h.finish()
    }

    func testEvaluatePerImageGivesIdsLabelsAndProbabilitiesForAClassifier() throws {
        let h = Harness()
        h.result("dataset.open", ["name": "c", "task": "classification", "phantoms": ["count": 6, "size": [16, 16]]])
        h.result("model.create", ["architecture": "unet-classifier", "input_shape": [1, 16, 16]])
        let e = try XCTUnwrap(h.result("evaluate", ["dataset": "c", "per_image": true]))
        let rows = try XCTUnwrap(e["per_image"]?.arrayValue)
        XCTAssertEqual(rows.count, 6)
        XCTAssertEqual(rows.map { $0["id"] }, (0..<6).map { .string("phantom-\($0)") })
        XCTAssertEqual(rows[0]["probabilities"]?.arrayValue?.count, 2)
        let labels = rows.compactMap { $0["label"]?.intValue }
        XCTAssertEqual(labels.count, 6)
        XCTAssertEqual(rows[0]["class"]?.stringValue.map { ["normal", "consolidation"].contains($0) }, true)
        // The predicted classes are what the confusion matrix counted.
        let cm = try XCTUnwrap(e["confusion_matrix"]?.arrayValue?.map { $0.arrayValue?.compactMap(\.intValue) ?? [] })
        var counted = [[Int64]](repeating: [0, 0], count: 2)
        for row in rows { counted[Int(row["label"]!.intValue!)][Int(row["predicted"]!.intValue!)] += 1 }
        XCTAssertEqual(cm, counted)
        h.finish()
    }

    func testDatasetFilesListsASplitInPagesWithoutImages() throws {
        let h = Harness()
        h.result(
            "dataset.open",
            [
                "name": "c", "task": "classification", "phantoms": ["count": 10, "size": [16, 16]],
                "validation_split": 0.3,
            ])
        let first = try XCTUnwrap(h.result("dataset.files", ["name": "c.val", "limit": 2]))
        XCTAssertEqual(first["total"], 3)
        XCTAssertEqual(first["files"]?.arrayValue?.count, 2)
        XCTAssertEqual(first["next_offset"], 2)
        XCTAssertEqual(first["files"]?[0]?["path"], .null, "phantoms are generated, not files")
        XCTAssertNotNil(first["files"]?[0]?["label"]?.intValue)
        let last = try XCTUnwrap(h.result("dataset.files", ["name": "c.val", "offset": 2, "limit": 2]))
        XCTAssertEqual(last["files"]?.arrayValue?.count, 1)
        XCTAssertEqual(last["next_offset"], .null)
        let train =
            h.result("dataset.files", ["name": "c"])?["files"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        let val = (first["files"]!.arrayValue! + last["files"]!.arrayValue!).compactMap { $0["id"]?.stringValue }
        XCTAssertEqual(Set(train).union(val).count, 10)
        XCTAssertTrue(Set(train).isDisjoint(with: val))
        XCTAssertEqual(h.call("dataset.files", ["name": "nope"])?["error"]?["data"]?["field"], "name")
        h.finish()
    }

    func testDatasetSampleShuffledFollowsTheTrainingOrder() throws {
        let h = Harness()
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 12, "size": [16, 16]]])
        h.result("train.configure", ["seed": 7])
        func ids(_ params: JSONObject) -> [String] {
            h.result("dataset.sample", params)?["samples"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
        }
        let shuffled = ids(["name": "ph", "count": 4, "shuffle": true, "epoch": 1])
        let order = epochOrder(count: 12, epoch: 1, seed: 7, shuffle: true)
        XCTAssertEqual(shuffled, order.prefix(4).map { "phantom-\($0)" }, "the samples fit's epoch 1 starts with")
        XCTAssertEqual(ids(["name": "ph", "count": 4, "shuffle": true, "epoch": 1, "seed": 7]), shuffled)
        XCTAssertNotEqual(ids(["name": "ph", "count": 4, "shuffle": true, "epoch": 1, "seed": 8]), shuffled)
        XCTAssertEqual(
            ids(["name": "ph", "count": 2, "start": .int(Int64(Int.max))]), ["phantom-7", "phantom-8"], "no overflow")
        h.finish()
    }

    // MARK: Item 19: one default learning rate; losses per head, refused with the choices

    func testDefaultLearningRateIsAdamsAndLossesArePickedAndCheckedPerHead() throws {
        let h = Harness()
        XCTAssertEqual(h.result("train.configure", [:])?["learning_rate"], 0.001, "Adam's 1e-3, as PyTorch and Keras")
        XCTAssertEqual(h.result("train.configure", ["loss": "auto"])?["loss"], "auto")
        h.result("model.create", Harness.tinyUNet)
        let ce = h.call("train.configure", ["loss": "ce"])
        XCTAssertEqual(ce?["error"]?["data"]?["field"], "loss")
        XCTAssertEqual(
            ce?["error"]?["data"]?["reason"],
            "\"ce\" does not fit this model's 1-channel mask; choose one of \"auto\", \"bce\", \"dice\", \"bce+dice\"")
        XCTAssertEqual(h.result("train.configure", [:])?["loss"], "auto", "the refused loss changed nothing")

        // A 3-class mask: auto is cross-entropy; bce+dice is refused at configure, or at the first step when it was
        // configured before the model.
        h.result("train.configure", ["loss": "bce+dice"])
        h.result("model.create", merged(Harness.tinyUNet, ["classes": 3]))
        let mask: [UInt8] = (0..<256).map { UInt8($0 % 16 / 6) }  // 0, 1, 2
        let batch: JSONObject = [
            "images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
            "masks": [arrayImage(uint8: mask, shape: [16, 16])],
        ]
        let step = h.call("train.step", batch)
        XCTAssertEqual(step?["error"]?["data"]?["field"], "loss")
        XCTAssertTrue(
            step?["error"]?["data"]?["reason"]?.stringValue?.contains(
                "3-class mask; choose one of \"auto\", \"ce\", \"dice\"") ?? false)
        XCTAssertEqual(h.call("train.configure", ["loss": "bce"])?["error"]?["data"]?["field"], "loss")
        h.result("train.configure", ["loss": "auto"])
        XCTAssertNotNil(h.result("train.step", batch)?["loss"]?.doubleValue, "auto trains a 3-class mask")
        // A mask and a class head: a loss fits when it fits either (the pneumonia pipeline's "ce" on labels).
        h.result("model.create", merged(Harness.tinyUNet, ["classification_head": 2]))
        XCTAssertEqual(h.result("train.configure", ["loss": "ce"])?["loss"], "ce")
        XCTAssertNotNil(
            h.result(
                "train.step",
                [
                    "images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
                    "labels": [1],
                ])?["loss"])
        let binary: JSONObject = [
            "images": [arrayImage(uint8: gradient(16, 16), shape: [16, 16])],
            "masks": [arrayImage(uint8: mask.map { $0 == 1 ? 255 : 0 }, shape: [16, 16])],
        ]
        XCTAssertNotNil(h.result("train.step", binary)?["loss"], "the mask keeps its automatic loss")
        // A classifier's sigmoid head takes bce and ce, not dice.
        h.result("model.create", ["architecture": "unet-classifier", "input_shape": [1, 16, 16]])
        XCTAssertEqual(h.call("train.configure", ["loss": "dice"])?["error"]?["data"]?["field"], "loss")
        XCTAssertEqual(h.result("train.configure", ["loss": "ce"])?["loss"], "ce")
        h.finish()
    }

    // MARK: Item 20: class-index masks from folders

    /// A folder pair of 16x16 grey images and masks whose values are `maskValue(x, y)`.
    func writeFolders(_ dir: String, count: Int, maskValue: (Int, Int, Int) -> UInt8) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/masks", withIntermediateDirectories: true)
        for i in 0..<count {
            let mask = (0..<256).map { maskValue(i, $0 % 16, $0 / 16) }
            let image = mask.map { UInt8(min(Int($0) * 80 + 20, 255)) }
            try Data(PNGEncoder.encodeGrey(image, height: 16, width: 16)).write(
                to: URL(fileURLWithPath: dir + "/images/\(i).png"))
            try Data(PNGEncoder.encodeGrey(mask, height: 16, width: 16)).write(
                to: URL(fileURLWithPath: dir + "/masks/\(i).png"))
        }
    }

    func testThreeClassIndexMasksFromFoldersTrainAK3Model() throws {
        let dir = NSTemporaryDirectory() + "idx-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Class 0 background, 1 the left half, 2 a square at the bottom right.
        try writeFolders(dir, count: 4) { i, x, y in x < 8 ? 1 : (y > 8 + i % 3 ? 2 : 0) }
        let h = Harness()
        let open: JSONObject = [
            "name": "idx", "images": .string(dir + "/images"), "masks": .string(dir + "/masks"),
            "input_shape": [1, 16, 16],
        ]
        h.result("dataset.open", open)
        let sample = try XCTUnwrap(
            h.result("dataset.sample", ["name": "idx", "count": 1])?["samples"]?[0]?["mask"]?["array"])
        let values = Set(Data(base64Encoded: sample["data"]?.stringValue ?? "") ?? Data())
        XCTAssertEqual(values, [0, 1, 2], "class indices kept, not binarised at 127")
        h.result("model.create", merged(Harness.tinyUNet, ["classes": 3]))
        h.result("train.configure", ["batch_size": 4, "learning_rate": 0.01])
        let r = try XCTUnwrap(h.result("train.fit", ["dataset": "idx", "epochs": 3]))
        XCTAssertNotNil(r["history"]?[2]?["dice"]?.doubleValue)
        // A 1-channel model cannot learn class indices: the error says how to make one that can.
        h.result("model.create", Harness.tinyUNet)
        let one = h.call("train.step", ["dataset": "idx"])
        XCTAssertTrue(
            one?["error"]?["message"]?.stringValue?.contains("classes 3") ?? false, "\(String(describing: one))")
        XCTAssertEqual(one?["error"]?["code"], -32004)
        // mask_format "binary" reads the same files as binary masks (all below 127: background).
        h.result("dataset.open", merged(open, ["mask_format": "binary"]))
        let binary = h.result("dataset.sample", ["name": "idx", "count": 1])?["samples"]?[0]?["mask"]?["array"]?["data"]
        XCTAssertEqual(Set(Data(base64Encoded: binary?.stringValue ?? "") ?? Data()), [0])
        h.finish()
    }

    func testBinaryMasksStayBinaryUnderTheAutomaticRule() throws {
        let dir = NSTemporaryDirectory() + "bin-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 0/255 with an anti-aliased edge of 128 and 100: foreground is > 127.
        try writeFolders(dir, count: 1) { _, x, _ in x < 6 ? 255 : (x == 6 ? 128 : (x == 7 ? 100 : 0)) }
        let h = Harness()
        h.result(
            "dataset.open",
            [
                "name": "b", "images": .string(dir + "/images"), "masks": .string(dir + "/masks"),
                "input_shape": [1, 16, 16],
            ])
        let data = h.result("dataset.sample", ["name": "b", "count": 1])?["samples"]?[0]?["mask"]?["array"]?["data"]
        let mask = [UInt8](Data(base64Encoded: data?.stringValue ?? "") ?? Data())
        XCTAssertEqual(Array(mask.prefix(16)), (0..<16).map { $0 <= 6 ? 255 : 0 })
        h.finish()
    }
}

/// `base` with `extra`'s keys set.
private func merged(_ base: JSONObject, _ extra: JSONObject) -> JSONObject {
    var o = base
    for (k, v) in extra { o[k] = v }
    return o
}
