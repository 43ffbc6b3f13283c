import Foundation
import TestSupport
import XCTest

@testable import UNetCore

/// One loss per named head, with weights; the single-loss form means what it meant before heads had names.
final class HeadLossTests: XCTestCase {
    /// A fresh trainer on a unet with a mask and a 2-class head, the same weights every time.
    func trainer(_ configure: (inout TrainingConfig) -> Void) throws -> Trainer {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 16, 16], seed: 3, depth: 2,
                filters: 4, classificationHead: 2))
        var config = TrainingConfig()
        config.optimizer = .sgd; config.learningRate = 1e-3; config.batchSize = 4
        configure(&config)
        return Trainer(model: model, config: config)
    }

    func batch() throws -> Batch {
        try DiscSource(count: 4, size: 16, seed: 5).batch(indices: [0, 1, 2, 3], epoch: 0, augment: false)
    }

    /// The first step's loss (taken before the update) and the class head's weight gradient.
    func firstStep(_ configure: (inout TrainingConfig) -> Void) throws -> (loss: Float, classGradient: [Float]) {
        let t = try trainer(configure)
        let r = try t.trainStep(batch())
        let dense = try XCTUnwrap(t.model.network.namedParameters.first { $0.name == "classifier.weight" })
        return (r.loss, dense.parameter.grad.array)
    }

    func testTheSingleLossFormIsThePerHeadFormWithThatLossOnTheHeadsItFits() throws {
        let single = try firstStep { $0.loss = .bceDice }
        let perHead = try firstStep { $0.headLosses = ["mask": HeadLoss(.bceDice)] }
        XCTAssertEqual(single.loss, perHead.loss, "the class head takes its automatic loss in both")
        let auto = try firstStep { _ in }
        XCTAssertEqual(auto.loss, single.loss, "auto is BCE + Dice for a one-channel mask")
    }

    func testHeadWeightsScaleEachTermAndItsGradient() throws {
        let maskOnly = try firstStep { $0.headLosses = ["class": HeadLoss(weight: 0)] }
        let classOnly = try firstStep { $0.headLosses = ["mask": HeadLoss(weight: 0), "class": HeadLoss(.ce)] }
        let both = try firstStep { $0.headLosses = ["mask": HeadLoss(.bceDice), "class": HeadLoss(.ce, weight: 0.5)] }
        XCTAssertEqual(Double(both.loss), Double(maskOnly.loss + 0.5 * classOnly.loss), accuracy: 1e-6)
        XCTAssertTrue(maskOnly.classGradient.allSatisfy { $0 == 0 }, "a weight of 0 leaves the head out")
        let halfClass = try firstStep {
            $0.headLosses = ["mask": HeadLoss(weight: 0), "class": HeadLoss(.ce, weight: 0.5)]
        }
        assertClose(halfClass.classGradient, classOnly.classGradient.map { $0 * 0.5 }, atol: 1e-9, rtol: 1e-6)
        XCTAssertEqual(Double(halfClass.loss), Double(classOnly.loss) * 0.5, accuracy: 1e-7)
    }

    func testDeepSupervisionMasksTakeTheMaskEntryUnlessNamed() {
        let head = ModelHead.mask("mask.2", channels: 1, output: 3)
        var c = TrainingConfig()
        c.loss = .dice
        XCTAssertEqual(c.headLoss(for: head), HeadLoss(.dice))
        c.headLosses = ["mask": HeadLoss(.bce, weight: 2)]
        XCTAssertEqual(c.headLoss(for: head), HeadLoss(.bce, weight: 2))
        c.headLosses = ["mask": HeadLoss(.bce, weight: 2), "mask.2": HeadLoss(weight: 0.25)]
        XCTAssertEqual(c.headLoss(for: head), HeadLoss(weight: 0.25))
        c.loss = .dice; c.headLosses = nil
        let classHead = ModelHead(name: "class", kind: .classes, channels: 2, activation: .softmax, output: 1)
        XCTAssertEqual(
            LossChoice.classLoss(c.headLoss(for: classHead).loss, outputs: 2, activation: .softmax), .ce,
            "a mask-only single loss leaves class heads on auto")
    }

    func testPerHeadLossesAreCheckedAgainstTheModelsHeads() throws {
        let model = try Model.build(ModelConfig(architecture: .unet, inputShape: [1, 16, 16], depth: 2, filters: 4))
        var c = TrainingConfig()
        c.headLosses = ["class": HeadLoss(.ce)]
        XCTAssertThrowsError(try c.checkHeadLosses(for: model)) {
            XCTAssertEqual(
                $0 as? ConfigError,
                ConfigError(field: "loss.class", reason: "is not a head of this model (its heads: mask)"))
        }
        c.headLosses = ["mask": HeadLoss(.dice)]
        XCTAssertNoThrow(try c.checkHeadLosses(for: model))
        let classifier = try Model.build(ModelConfig(architecture: .unetClassifier, inputShape: [1, 8, 8]))
        c.headLosses = ["class": HeadLoss(.dice)]
        XCTAssertThrowsError(try c.checkHeadLosses(for: classifier)) {
            XCTAssertEqual(($0 as? ConfigError)?.field, "loss.class")
        }
    }

    /// Old checkpoints' training state has no per-head losses; it still decodes, to the single form.
    func testTrainingConfigWithoutHeadLossesDecodes() throws {
        let json =
            #"{"optimizer":"adam","learning_rate":0.001,"momentum":0.9,"nesterov":false,"loss":"dice","#
            + #""balanced_class_weights":false,"batch_size":8,"seed":0,"augment":true}"#
        let c = try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c.loss, .dice)
        XCTAssertNil(c.headLosses)
    }
}

/// A model with a deep-supervision mask (`mask.1`), built by hand as a future architecture would declare it.
final class DeepSupervisionTests: XCTestCase {
    func model() -> Model {
        var rng = RandomGenerator(seed: 4)
        let net = Network()
        let trunk = net.add(
            "trunk", Conv2D(inputChannels: 1, outputChannels: 3, kernelSize: 3, rng: &rng), Network.input)
        let main = net.add("head", Conv2D(inputChannels: 3, outputChannels: 1, kernelSize: 1, rng: &rng), trunk)
        let aux = net.add("aux", Conv2D(inputChannels: 3, outputChannels: 1, kernelSize: 1, rng: &rng), trunk)
        net.outputs = [main, aux]
        return Model(
            config: ModelConfig(architecture: .unet, inputShape: [1, 16, 16]), network: net,
            heads: [.mask(channels: 1, output: 0), .mask("mask.1", channels: 1, output: 1)],
            padMultiple: 1, fixedSize: false)
    }

    func firstLoss(_ losses: [String: HeadLoss]) throws -> (Float, [Float]) {
        let m = model()
        var c = TrainingConfig()
        c.optimizer = .sgd; c.headLosses = losses
        let t = Trainer(model: m, config: c)
        let batch = try DiscSource(count: 2, size: 16, seed: 5).batch(indices: [0, 1], epoch: 0, augment: false)
        let loss = try t.trainStep(batch).loss
        return (loss, m.network.namedParameters.first { $0.name == "aux.weight" }!.parameter.grad.array)
    }

    func testDeepSupervisionHeadsAddTheirWeightedTermAndTrainOnlyInTraining() throws {
        XCTAssertEqual(model().deepSupervisionHeads.map(\.name), ["mask.1"])
        let (mainOnly, noAuxGradient) = try firstLoss(["mask.1": HeadLoss(weight: 0)])
        XCTAssertTrue(noAuxGradient.allSatisfy { $0 == 0 })
        let (auxOnly, auxGradient) = try firstLoss(["mask": HeadLoss(weight: 0), "mask.1": HeadLoss(.bce)])
        XCTAssertTrue(auxGradient.contains { $0 != 0 })
        let (both, _) = try firstLoss(["mask": HeadLoss(weight: 0), "mask.1": HeadLoss(.bce, weight: 0.25)])
        XCTAssertEqual(Double(both), Double(auxOnly) * 0.25, accuracy: 1e-7)
        let (sum, _) = try firstLoss(["mask.1": HeadLoss(weight: 1)])
        let auxAuto = try firstLoss(["mask": HeadLoss(weight: 0), "mask.1": HeadLoss()]).0
        XCTAssertEqual(Double(sum), Double(mainOnly) + Double(auxAuto), accuracy: 1e-6)
        // Without its own entry, mask.1 takes the mask entry: weight 0 for both leaves nothing to learn from.
        XCTAssertEqual(try firstLoss(["mask": HeadLoss(weight: 0)]).0, 0)
        let m = model()
        XCTAssertTrue(try m.forward(Tensor(zeros: [1, 1, 16, 16]), training: false).deepSupervision.isEmpty)
        XCTAssertEqual(try m.forward(Tensor(zeros: [1, 1, 16, 16]), training: true).deepSupervision.count, 1)
    }
}
