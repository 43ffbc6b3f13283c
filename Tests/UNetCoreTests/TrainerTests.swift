import Foundation
import TestSupport
import UNetCore
import XCTest

/// An in-memory dataset of noisy discs with their masks and a label (1 when the disc is large), for trainer tests.
final class DiscSource: BatchSource {
    let images: [[Float]], masks: [[Float]], labels: [Int]
    let size: Int
    var loads = 0

    init(count: Int, size: Int, seed: UInt64) {
        var rng = RandomGenerator(seed: seed)
        var images: [[Float]] = [], masks: [[Float]] = [], labels: [Int] = []
        for _ in 0..<count {
            let r = rng.uniform(0.15, 0.35) * Float(size)
            let (cx, cy) = (rng.uniform(0.35, 0.65) * Float(size), rng.uniform(0.35, 0.65) * Float(size))
            var img = [Float](repeating: 0, count: size * size), m = img
            for y in 0..<size {
                for x in 0..<size where (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) < r * r {
                    m[y * size + x] = 1
                }
            }
            for i in 0..<img.count { img[i] = 0.5 * m[i] + 0.25 + 0.1 * rng.normal() }
            images.append(img); masks.append(m); labels.append(r > 0.25 * Float(size) ? 1 : 0)
        }
        self.images = images; self.masks = masks; self.labels = labels; self.size = size
    }

    var sampleCount: Int { images.count }
    var classNames: [String] { ["small", "large"] }
    var classCounts: [Int] { [labels.filter { $0 == 0 }.count, labels.filter { $0 == 1 }.count] }

    func batch(indices: [Int], epoch: Int, augment: Bool) throws -> Batch {
        loads += 1
        let plane = size * size
        let x = Tensor(zeros: [indices.count, 1, size, size]), m = Tensor(zeros: [indices.count, 1, size, size])
        for (k, i) in indices.enumerated() {
            // "Augmentation": a horizontal flip decided by (epoch, index), so it repeats on a resumed run.
            var rng = RandomGenerator(seed: UInt64(epoch * 1000 + i))
            let flip = augment && rng.next() % 2 == 0
            for y in 0..<size {
                for xx in 0..<size {
                    let src = y * size + (flip ? size - 1 - xx : xx)
                    x[k * plane + y * size + xx] = images[i][src]
                    m[k * plane + y * size + xx] = masks[i][src]
                }
            }
        }
        return Batch(images: x, masks: m, labels: indices.map { labels[$0] }, ids: indices.map(String.init))
    }
}

final class TrainerTests: XCTestCase {
    func makeTrainer(lr: Float = 3e-3, seed: UInt64 = 1, head: Int = 0) throws -> Trainer {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], seed: seed, depth: 2,
                filters: 4, batchNorm: true, classificationHead: head))
        var config = TrainingConfig()
        config.learningRate = lr; config.batchSize = 4; config.seed = seed
        return Trainer(model: model, config: config)
    }

    /// Once warm, a training step takes every activation, gradient and scratch buffer from the engine's caches:
    /// no large buffer comes from the system. (The small bookkeeping allocations are counted by unet-bench.)
    func testWarmTrainingStepTakesNoBufferFromTheSystem() throws {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 64, 64], seed: 3, depth: 2,
                filters: 8, batchNorm: true))
        var config = TrainingConfig()
        config.batchSize = 2
        let trainer = Trainer(model: model, config: config)
        let batch = try DiscSource(count: 2, size: 64, seed: 4).batch(indices: [0, 1], epoch: 0, augment: false)
        for _ in 0..<2 { _ = try trainer.trainStep(batch) }
        let (buffers, growths) = (TensorStorage.systemAllocationCount, Workspace.shared.growthCount)
        for _ in 0..<2 { _ = try trainer.trainStep(batch) }
        XCTAssertEqual(TensorStorage.systemAllocationCount, buffers, "tensor buffers allocated by a warm step")
        XCTAssertEqual(Workspace.shared.growthCount, growths, "workspace growth in a warm step")
    }

    func testShortFitDrivesLossDownAndValidationDiceUp() throws {
        let trainer = try makeTrainer(lr: 1e-2)
        let train = DiscSource(count: 32, size: 16, seed: 1), val = DiscSource(count: 8, size: 16, seed: 2)
        let before = try trainer.evaluate(val, batchSize: 4)
        var events = 0
        let result = try trainer.fit(
            train: train, validation: val, options: FitOptions(epochs: 8), progress: { _ in events += 1 })
        XCTAssertEqual(result.history.count, 8)
        XCTAssertEqual(events, 8 * 8 + 8, "one event per step and one per epoch")
        let first = result.history.first!.metrics, last = result.history.last!.metrics
        XCTAssertLessThan(last["loss"]!, 0.7 * first["loss"]!)
        XCTAssertGreaterThan(last["val_dice"]!, 0.85, "validation Dice after 8 short epochs")
        XCTAssertGreaterThan(last["val_dice"]!, before.segmentation!.meanDice)
        XCTAssertEqual(trainer.epoch, 8)
        XCTAssertEqual(trainer.step, 64)
    }

    func testNaNProducingLearningRateLeavesTheWeightsUntouched() throws {
        let trainer = try makeTrainer(lr: 3e-3)
        let train = DiscSource(count: 8, size: 16, seed: 3)
        let batch = try train.batch(indices: [0, 1, 2, 3], epoch: 0, augment: false)
        _ = try trainer.trainStep(batch)
        let before = trainer.model.network.namedParameters.map { $0.parameter.value.array }
        let buffersBefore = trainer.model.network.namedBuffers.map(\.value.array)
        let momentsBefore = trainer.optimizer.first.map(\.array)
        trainer.optimizer.learningRate = .infinity
        XCTAssertThrowsError(try trainer.trainStep(batch)) { e in
            guard case TrainingError.diverged = e else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(trainer.model.network.namedParameters.map { $0.parameter.value.array }, before)
        XCTAssertEqual(trainer.model.network.namedBuffers.map(\.value.array), buffersBefore)
        XCTAssertEqual(trainer.optimizer.first.map(\.array), momentsBefore)
        XCTAssertEqual(trainer.step, 1)
        // A non-finite input gives a non-finite loss: refused the same way, and training goes on afterwards.
        trainer.optimizer.learningRate = 3e-3
        let poisoned = try train.batch(indices: [0, 1], epoch: 0, augment: false)
        poisoned.images[5] = .nan
        XCTAssertThrowsError(try trainer.trainStep(poisoned))
        XCTAssertEqual(trainer.model.network.namedParameters.map { $0.parameter.value.array }, before)
        XCTAssertEqual(try trainer.trainStep(batch).step, 2)
    }

    /// A finite but absurd learning rate is refused before anything is written (weights and both Adam moments).
    func testAbsurdUpdateIsRefusedBeforeAnythingIsWritten() throws {
        let trainer = try makeTrainer(lr: 3e-3)
        let batch = try DiscSource(count: 4, size: 16, seed: 5).batch(indices: [0, 1, 2, 3], epoch: 0, augment: false)
        _ = try trainer.trainStep(batch)
        let before = trainer.model.network.namedParameters.map { $0.parameter.value.array }
        let moments = (trainer.optimizer.first + trainer.optimizer.second).map(\.array)
        trainer.optimizer.learningRate = 1e12
        XCTAssertThrowsError(try trainer.trainStep(batch)) { e in
            guard case TrainingError.diverged(let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains("times their norm"), why)
        }
        XCTAssertEqual(trainer.model.network.namedParameters.map { $0.parameter.value.array }, before)
        XCTAssertEqual((trainer.optimizer.first + trainer.optimizer.second).map(\.array), moments)
        XCTAssertEqual(trainer.step, 1)
    }

    /// `proposedStep` writes nothing and measures exactly the change `step` then makes, for each optimizer.
    func testProposedStepMeasuresTheStepThatFollows() {
        for kind in Optimizer.Kind.allCases {
            let params = [Parameter("a", randomTensor([5, 7], seed: 1)), Parameter("b", randomTensor([3], seed: 2))]
            for (p, seed) in zip(params, [UInt64(3), 4]) { p.grad.assign(randomTensor(p.value.shape, seed: seed)) }
            let opt = Optimizer(kind: kind, learningRate: 0.05, momentum: kind == .sgd ? 0.9 : 0)
            for _ in 0..<2 {
                let old = params.map { $0.value.copy() }
                let proposal = opt.proposedStep(params)
                XCTAssertEqual(params.map(\.value.array), old.map(\.array), "\(kind): the proposal wrote")
                opt.step(params)
                var change = 0.0, norm = 0.0
                for (p, o) in zip(params, old) {
                    for i in 0..<o.count {
                        change += Double(p.value[i] - o[i]) * Double(p.value[i] - o[i])
                        norm += Double(o[i]) * Double(o[i])
                    }
                }
                XCTAssertTrue(proposal.finite)
                XCTAssertEqual(proposal.relativeChange, (change / norm).squareRoot(), accuracy: 1e-12, "\(kind)")
                XCTAssertGreaterThan(proposal.relativeChange, 0)
            }
        }
    }

    func testResumeFromACheckpointRepeatsTheUninterruptedRunBitForBit() throws {
        let dir = NSTemporaryDirectory() + "unet-resume-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = DiscSource(count: 12, size: 16, seed: 4)
        func losses(_ t: Trainer, epochs: Int) throws -> [Float] {
            var out: [Float] = []
            _ = try t.fit(
                train: train, validation: nil, options: FitOptions(epochs: epochs),
                progress: { e in
                    if case .step(_, _, _, let loss, _, _) = e { out.append(loss) }
                })
            return out
        }
        // Uninterrupted: 3 epochs (9 steps). Interrupted: cancel after 4 steps, save, load, finish.
        let reference = try losses(try makeTrainer(seed: 5), epochs: 3)
        let first = try makeTrainer(seed: 5)
        var partial: [Float] = []
        let stopped = try first.fit(
            train: train, validation: nil, options: FitOptions(epochs: 3),
            progress: { e in
                if case .step(_, _, _, let loss, _, _) = e { partial.append(loss) }
            }, isCancelled: { partial.count == 4 })
        XCTAssertTrue(stopped.cancelled)
        XCTAssertEqual([stopped.epoch, stopped.batchInEpoch], [1, 1])
        try first.save(to: dir + "/resume.safetensors")
        let contents = try Checkpoint.load(path: dir + "/resume.safetensors", current: nil)
        let resumed = try XCTUnwrap(try Trainer.restore(from: contents))
        XCTAssertEqual(resumed.state, first.state)
        let rest = try losses(resumed, epochs: 2)  // finishes epoch 1, then epoch 2
        XCTAssertEqual((partial + rest).map(\.bitPattern), reference.map(\.bitPattern))
    }

    /// A cancel that arrives while the second epoch validates keeps the first epoch's record (it was lost with the
    /// thrown error, so a time-budgeted demo once reported 0 epochs after 61), and resuming finishes that epoch.
    func testCancelDuringValidationKeepsTheFinishedEpochs() throws {
        let trainer = try makeTrainer(lr: 1e-2)
        let train = DiscSource(count: 8, size: 16, seed: 6), val = DiscSource(count: 8, size: 16, seed: 7)
        // Steps per epoch: 8 / 4 = 2 (the trainer's batch size). At the end of the second epoch the training loop
        // polls once (after its last step); the next poll is the validation's.
        var pollsAtEpochEnd = 0
        let stopped = try trainer.fit(
            train: train, validation: val, options: FitOptions(epochs: 5),
            isCancelled: {
                guard trainer.epoch == 1 && trainer.batchInEpoch == 2 else { return false }
                pollsAtEpochEnd += 1
                return pollsAtEpochEnd == 2
            })
        XCTAssertTrue(stopped.cancelled)
        XCTAssertEqual(stopped.history.count, 1, "the first epoch's record survives")
        XCTAssertNotNil(stopped.history.first?.metrics["val_loss"])
        XCTAssertEqual([trainer.epoch, trainer.batchInEpoch], [1, 2], "the second epoch's steps are done")
        let resumed = try trainer.fit(train: train, validation: val, options: FitOptions(epochs: 1))
        XCTAssertEqual(resumed.history.map(\.epoch), [1], "resuming validates and records epoch 1 without new steps")
        XCTAssertEqual(trainer.step, 4)
    }

    func testEarlyStoppingRestoresTheBestWeightsAndReduceLRChangesTheRate() throws {
        let trainer = try makeTrainer(lr: 1e-2)
        let train = DiscSource(count: 8, size: 16, seed: 6), val = DiscSource(count: 4, size: 16, seed: 7)
        var options = FitOptions(epochs: 30)
        // min_delta so large that nothing counts as an improvement after the first epoch.
        options.earlyStopping = EarlyStopping(monitor: "val_loss", patience: 2, minDelta: 100, restoreBestWeights: true)
        options.reduceLROnPlateau = ReduceLROnPlateau(monitor: "loss", factor: 0.5, patience: 1, minDelta: 100)
        var weightsAfterEpoch0: [Float]?
        let result = try trainer.fit(
            train: train, validation: val, options: options,
            progress: { e in
                if case .epoch(let r) = e, r.epoch == 0 {
                    weightsAfterEpoch0 = trainer.model.network.namedParameters[0].parameter.value.array
                }
            })
        XCTAssertTrue(result.stoppedEarly)
        XCTAssertEqual(result.history.count, 3, "best at epoch 0, then 2 epochs of patience")
        XCTAssertEqual(result.bestEpoch, 0)
        XCTAssertEqual(trainer.model.network.namedParameters[0].parameter.value.array, weightsAfterEpoch0)
        XCTAssertEqual(result.history.map(\.learningRate), [1e-2, 1e-2, 5e-3], "reduced after epoch 1, as Keras does")
    }

    func testClassificationHeadTrainsWithLabelsAndEvaluatesWithROC() throws {
        let trainer = try makeTrainer(head: 2)
        let train = DiscSource(count: 16, size: 16, seed: 8)
        _ = try trainer.fit(train: train, validation: nil, options: FitOptions(epochs: 2))
        let e = try trainer.evaluate(train, batchSize: 4)
        let b = try XCTUnwrap(e.binary)
        XCTAssertEqual(b.confusionMatrix.total, 16)
        XCTAssertNotNil(b.rocAUC)
        XCTAssertNotNil(e.segmentation)
        XCTAssertNotNil(e.scalars["auc"])
    }

    func testBalancedClassWeightsFollowScikitLearn() {
        // n / (k · count): 1341 normal and 3875 pneumonia images.
        let w = balancedClassWeights(counts: [1341, 3875])
        XCTAssertEqual(w[0], 5216 / (2 * 1341), accuracy: 1e-5)
        XCTAssertEqual(w[1], 5216 / (2 * 3875), accuracy: 1e-5)
    }

    func testEpochOrderIsASeededPermutation() {
        let a = epochOrder(count: 50, epoch: 3, seed: 9, shuffle: true)
        XCTAssertEqual(a.sorted(), Array(0..<50))
        XCTAssertEqual(a, epochOrder(count: 50, epoch: 3, seed: 9, shuffle: true))
        XCTAssertNotEqual(a, epochOrder(count: 50, epoch: 4, seed: 9, shuffle: true))
        XCTAssertEqual(epochOrder(count: 5, epoch: 0, seed: 1, shuffle: false), [0, 1, 2, 3, 4])
    }
}
