import TestSupport
import UNetCore
import XCTest

/// Central finite-difference checks of every layer's input and parameter gradients, over odd sizes, strides and
/// paddings. Inputs are kept away from the kinks of ReLU and max-pooling where a difference would straddle one.
final class GradientTests: XCTestCase {
    let checker = GradientCheck()

    func testConv2D() {
        var rng = RandomGenerator(seed: 1)
        for (k, s, p, h, w) in [
            (3, 1, Padding.same, 5, 7), (3, 2, .same, 7, 6), (3, 1, .valid, 6, 5), (1, 1, .same, 4, 3),
            (5, 2, .explicit(2), 9, 8), (2, 2, .valid, 6, 6), (3, 3, .explicit(1), 7, 7),
        ] {
            let conv = Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: k, stride: s, padding: p, rng: &rng)
            for i in 0..<4 { conv.bias!.value[i] = rng.uniform(-1, 1) }
            checker.check(conv, inputs: [randomTensor([2, 3, h, w], seed: 2)])
        }
        let noBias = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, useBias: false, rng: &rng)
        checker.check(noBias, inputs: [randomTensor([1, 2, 5, 5], seed: 3)])
    }

    func testConvTranspose2D() {
        var rng = RandomGenerator(seed: 4)
        for (k, s) in [(2, 2), (3, 2), (3, 1)] {
            let up = ConvTranspose2D(inputChannels: 3, outputChannels: 2, kernelSize: k, stride: s, rng: &rng)
            for i in 0..<2 { up.bias!.value[i] = rng.uniform(-1, 1) }
            checker.check(up, inputs: [randomTensor([2, 3, 3, 5], seed: 5)])
        }
    }

    /// Distinct values spaced wider than 2ε, so perturbing one never changes which element wins a window.
    func spacedTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(zeros: shape)
        var order = Array(0..<t.count)
        var rng = RandomGenerator(seed: seed)
        order.shuffle(using: &rng)
        for (rank, i) in order.enumerated() { t[i] = Float(rank) * 0.05 - 1 }
        return t
    }

    func testMaxPool2D() {
        checker.check(MaxPool2D(), inputs: [spacedTensor([2, 3, 6, 8], seed: 6)])
        checker.check(MaxPool2D(), inputs: [spacedTensor([1, 2, 7, 5], seed: 7)])  // odd edges are dropped
        checker.check(MaxPool2D(poolSize: 3, stride: 2), inputs: [spacedTensor([1, 2, 7, 7], seed: 8)])
    }

    func testUpSampling2D() {
        checker.check(UpSampling2D(factor: 2, mode: .nearest), inputs: [randomTensor([2, 3, 3, 5], seed: 9)])
        checker.check(UpSampling2D(factor: 2, mode: .bilinear), inputs: [randomTensor([2, 3, 3, 5], seed: 10)])
        checker.check(UpSampling2D(factor: 3, mode: .bilinear), inputs: [randomTensor([1, 2, 4, 2], seed: 11)])
    }

    func testConcatenate() {
        checker.check(
            Concatenate(), inputs: [randomTensor([2, 3, 4, 5], seed: 12), randomTensor([2, 2, 4, 5], seed: 13)])
    }

    func testActivations() {
        // ReLU: keep inputs at least 2ε from zero.
        let x = randomTensor([2, 3, 4, 5], seed: 14)
        for i in 0..<x.count where abs(x[i]) < 0.05 { x[i] = x[i] < 0 ? -0.1 : 0.1 }
        checker.check(ReLU(), inputs: [x])
        checker.check(Sigmoid(), inputs: [randomTensor([2, 3, 4, 5], seed: 15, low: -4, high: 4)])
        checker.check(Softmax(), inputs: [randomTensor([3, 5], seed: 16, low: -3, high: 3)])
        checker.check(Softmax(), inputs: [randomTensor([2, 4, 3, 3], seed: 17, low: -3, high: 3)])
    }

    func testDenseFlattenAndGlobalAveragePooling() {
        var rng = RandomGenerator(seed: 18)
        let dense = Dense(inputFeatures: 7, outputFeatures: 3, rng: &rng)
        for i in 0..<3 { dense.bias.value[i] = rng.uniform(-1, 1) }
        checker.check(dense, inputs: [randomTensor([4, 7], seed: 19)])
        // 45 features: the vector loops' 32-wide, 8-wide and scalar parts; 20 outputs: the GEMM path.
        for outputs in [3, 20] {
            let wide = Dense(inputFeatures: 45, outputFeatures: outputs, rng: &rng)
            for i in 0..<outputs { wide.bias.value[i] = rng.uniform(-1, 1) }
            checker.check(wide, inputs: [randomTensor([3, 45], seed: 22)])
        }
        checker.check(Flatten(), inputs: [randomTensor([2, 3, 2, 5], seed: 20)])
        checker.check(GlobalAveragePooling2D(), inputs: [randomTensor([2, 3, 4, 5], seed: 21)])
    }

    func testBatchNormInTrainingAndInference() {
        for shape in [[4, 3, 5, 3], [6, 4]] {
            let bn = BatchNorm(channels: shape[1])
            for i in 0..<shape[1] { bn.weight.value[i] = 0.5 + Float(i); bn.bias.value[i] = Float(i) * 0.3 - 0.2 }
            // Running statistics move on every training forward, which does not change the training output.
            checker.check(bn, inputs: [randomTensor(shape, seed: 22, low: -2, high: 3)], training: true)
        }
        let bn = BatchNorm(channels: 3)
        for i in 0..<3 { bn.runningMean[i] = Float(i) * 0.1; bn.runningVar[i] = 1 + Float(i) }
        XCTAssertEqual(bn.outputShapeOrNil([2, 3, 4, 4]), [2, 3, 4, 4])
    }

    func testDropoutRoutesGradientThroughTheSameMask() {
        let drop = Dropout(rate: 0.5, seed: 1)
        let x = randomTensor([2, 50], seed: 23)
        let y = drop.forward(x, training: true)
        let dy = randomTensor([2, 50], seed: 24)
        let dx = drop.backward(dy)
        var dropped = 0
        for i in 0..<x.count {
            if y[i] == 0 {
                dropped += 1; XCTAssertEqual(dx[i], 0)
            } else {
                XCTAssertEqual(y[i], 2 * x[i], accuracy: 1e-6)
                XCTAssertEqual(dx[i], 2 * dy[i], accuracy: 1e-6)
            }
        }
        XCTAssertTrue((30...70).contains(dropped), "dropped \(dropped) of 100 at rate 0.5")
        let inference = drop.forward(x, training: false)
        assertClose(inference, x, atol: 0, rtol: 0)
    }

    // MARK: Losses

    func checkLoss(
        _ what: String, _ z: Tensor, _ f: (Tensor) -> LossResult, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        let analytic = f(z).gradient
        checker.compare(z, analytic, { Double(f(z).loss) }, what, file: file, line: line)
    }

    func testLossGradients() {
        let z = randomTensor([2, 1, 4, 5], seed: 30, low: -3, high: 3)
        let t = randomTensor([2, 1, 4, 5], seed: 31, low: 0, high: 1)
        for i in 0..<t.count { t[i] = t[i] > 0.5 ? 1 : 0 }
        checkLoss("bce logits", z) { binaryCrossEntropy(logits: $0, targets: t) }
        checkLoss("bce logits weighted", z) { binaryCrossEntropy(logits: $0, targets: t, classWeights: [0.3, 2]) }
        checkLoss("dice", z) { diceLoss(logits: $0, targets: t) }
        checkLoss("bce+dice", z) { bceDiceLoss(logits: $0, targets: t) }
        let p = randomTensor([3, 2], seed: 32, low: 0.05, high: 0.95)
        let pt = Tensor(shape: [3, 2], values: [1, 0, 0, 1, 1, 0])
        checkLoss("bce probabilities", p) { binaryCrossEntropy(probabilities: $0, targets: pt, classWeights: [1, 3]) }
        let logits = randomTensor([4, 3], seed: 33, low: -2, high: 2)
        let labels = Tensor(shape: [4], values: [0, 2, 1, 2])
        checkLoss("ce", logits) { softmaxCrossEntropy(logits: $0, labels: labels) }
        checkLoss("ce weighted", logits) { softmaxCrossEntropy(logits: $0, labels: labels, classWeights: [1, 0.5, 2]) }
        let seg = randomTensor([2, 3, 3, 4], seed: 34, low: -2, high: 2)
        let segLabels = Tensor(shape: [2, 3, 4], values: (0..<24).map { Float($0 % 3) })
        checkLoss("ce pixels", seg) { softmaxCrossEntropy(logits: $0, labels: segLabels) }
        let onehot = Tensor(zeros: [2, 3, 3, 4])
        for i in 0..<2 { for q in 0..<12 { onehot[i * 36 + (q % 3) * 12 + q] = 1 } }
        checkLoss("dice softmax weighted", seg) { diceLoss(logits: $0, targets: onehot, classWeights: [1, 2, 0.5]) }
    }

    func testLossValuesOnHandWorkedCases() {
        // BCE of logit 0 is log 2 whatever the target; from probabilities 0.5 likewise.
        let r = binaryCrossEntropy(
            logits: Tensor(shape: [1, 2], values: [0, 0]), targets: Tensor(shape: [1, 2], values: [1, 0]))
        XCTAssertEqual(r.loss, Float(log(2.0)), accuracy: 1e-6)
        // Stable for huge logits: loss ≈ |z| when wrong, ≈ 0 when right; never inf or NaN.
        let big = binaryCrossEntropy(
            logits: Tensor(shape: [2], values: [1000, -1000]), targets: Tensor(shape: [2], values: [0, 0]))
        XCTAssertEqual(big.loss, 500, accuracy: 1e-3)
        XCTAssertTrue(big.gradient.isFinite)
        // A perfect mask has Dice loss near 0, an inverted one near 1.
        let t = Tensor(shape: [1, 1, 2, 2], values: [1, 0, 1, 0])
        XCTAssertLessThan(
            diceLoss(logits: Tensor(shape: [1, 1, 2, 2], values: [20, -20, 20, -20]), targets: t).loss, 1e-3)
        XCTAssertGreaterThan(
            diceLoss(logits: Tensor(shape: [1, 1, 2, 2], values: [-20, 20, -20, 20]), targets: t).loss, 0.6)
        // CE of uniform logits over K classes is log K.
        let ce = softmaxCrossEntropy(logits: Tensor(zeros: [2, 4]), labels: Tensor(shape: [2], values: [1, 3]))
        XCTAssertEqual(ce.loss, Float(log(4.0)), accuracy: 1e-6)
    }
}

extension Layer {
    func outputShapeOrNil(_ s: [Int]) -> [Int]? { try? outputShape([s]) }
}
