import Foundation
import TestSupport
import UNetCore
import XCTest

// Golden values from PyTorch. `Tests/fixtures/make_golden.py` (run once by a developer with torch; CI never
// runs it) wrote the fixtures in `Fixtures/`: inputs, weights, the output `y`, a fixed random `r`, and the
// gradients `d<name>` of L = sum(y * r) with respect to every input and parameter. References were computed
// in float64 from float32 inputs, so the tolerances below measure the engine's float32 error alone.
//
// The Python above each test is the gist of what produced its fixture; `layer_case(name, fn, inputs, params)`
// runs `fn` in float64 and saves `y`, `r` and the gradients, and `loss_case` saves the loss and its gradient.
//
// Tolerances (|actual - expected| <= atol + rtol * |expected|, elementwise):
// - layers: atol 1e-5, rtol 1e-4 (values and gradients are O(1); the longest sum is 75 products);
// - losses: loss and gradient atol 1e-7, rtol 1e-5 (the engine sums in Double; gradients are O(1/count));
// - optimizers over 5 steps: atol 2e-6, rtol 1e-5;
// - the U-Net's 10 Adam steps (PyTorch in float32): losses rtol 1e-5; first-step logits and gradients atol 1e-6,
//   rtol 1e-4; weights and running statistics after 10 steps atol 1e-5, rtol 1e-4.
// Measured on x86-64 with OpenBLAS, the worst errors were 50-100x inside these: layers 2e-6 absolute (a bias
// gradient of 8), losses 3e-8, optimizers 5e-7, the U-Net's losses 9e-8 relative and its weights 1.5e-7.

// MARK: - Fixture loading

/// One fixture file: named float32 tensors and string metadata, read with the engine's own safetensors reader
/// from the test bundle's `Fixtures` folder.
struct Golden {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    let name: String
    let file: SafeTensors

    init(_ name: String, extension ext: String = "safetensors") throws {
        self.name = name
        file = try SafeTensors.read(path: try Golden.url(name, ext).path)
    }

    /// The fixture's tensor `key`; a missing key fails the test with the fixture's name.
    func callAsFunction(_ key: String) throws -> Tensor {
        guard let t = file.tensors[key] else { throw Missing(description: "\(name) has no tensor \(key)") }
        return t
    }

    /// A scalar stored as a one-element tensor.
    func scalar(_ key: String) throws -> Float { try self(key)[0] }

    /// The path of a fixture file in the test bundle.
    static func url(_ name: String, _ ext: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures") else {
            throw Missing(description: "fixture \(name).\(ext) is not in the test bundle")
        }
        return url
    }
}

final class GoldenTests: XCTestCase {
    // MARK: - Helpers

    /// Loads the fixture's parameters into `layer` (by their local names), runs a training forward on the named
    /// inputs and a backward of `r`, and compares `y`, each input's gradient and each parameter's gradient.
    func checkLayer(
        _ layer: Layer, _ fixture: String, inputs: [String] = ["x"], atol: Float = 1e-5,
        rtol: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let g = try Golden(fixture)
        for p in layer.parameters {
            p.value.assign(try g(p.name))
            p.grad.zero()
        }
        let y = layer.forward(try inputs.map { try g($0) }, training: true)
        assertClose(y, try g("y"), atol: atol, rtol: rtol, "\(fixture): y", file: file, line: line)
        let dxs = layer.backward(try g("r"))
        XCTAssertEqual(dxs.count, inputs.count, "\(fixture): one gradient per input", file: file, line: line)
        for (name, dx) in zip(inputs, dxs) {
            assertClose(dx, try g("d" + name), atol: atol, rtol: rtol, "\(fixture): d\(name)", file: file, line: line)
        }
        for p in layer.parameters {
            assertClose(
                p.grad, try g("d" + p.name), atol: atol, rtol: rtol, "\(fixture): d\(p.name)",
                file: file, line: line)
        }
    }

    /// Compares a loss and its gradient (with respect to `wrt`) with the fixture.
    func checkLoss(
        _ result: LossResult, _ g: Golden, wrt: String = "z", file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        assertClose(
            [result.loss], [try g.scalar("loss")], atol: 1e-7, rtol: 1e-5, "\(g.name): loss",
            file: file, line: line)
        assertClose(
            result.gradient, try g("d" + wrt), atol: 1e-7, rtol: 1e-5, "\(g.name): d\(wrt)",
            file: file, line: line)
    }

    func conv(_ c: Int, _ o: Int, _ k: Int, stride: Int = 1, padding: Padding) -> Conv2D {
        var rng = RandomGenerator(seed: 0)
        return Conv2D(inputChannels: c, outputChannels: o, kernelSize: k, stride: stride, padding: padding, rng: &rng)
    }

    // MARK: - Conv2D

    // conv = lambda pads, stride: lambda x, weight, bias: F.conv2d(F.pad(x, pads), weight, bias, stride=stride)
    // layer_case("conv3x3_same", conv((1, 1, 1, 1), 1), {"x": rand((2, 3, 7, 6))},
    //            {"weight": rand((4, 3, 3, 3), -0.5, 0.5), "bias": rand((4,), -0.5, 0.5)})
    func testConv3x3Same() throws {
        try checkLayer(conv(3, 4, 3, padding: .same), "conv3x3_same")
    }

    // layer_case("conv3x3_valid", conv((0, 0, 0, 0), 1), {"x": rand((2, 3, 7, 5))},
    //            {"weight": rand((4, 3, 3, 3), -0.5, 0.5), "bias": rand((4,), -0.5, 0.5)})
    func testConv3x3Valid() throws {
        try checkLayer(conv(3, 4, 3, padding: .valid), "conv3x3_valid")
    }

    // TensorFlow's "same" at stride 2: out = ceil(in / 2), the odd pixel of padding at the bottom/right.
    // H = 7 pads (1, 1); W = 8 pads (0, 1):
    // layer_case("conv3x3_same_stride2", conv((0, 1, 1, 1), 2), {"x": rand((2, 3, 7, 8))},
    //            {"weight": rand((4, 3, 3, 3), -0.5, 0.5), "bias": rand((4,), -0.5, 0.5)})
    func testConv3x3SameStride2() throws {
        try checkLayer(conv(3, 4, 3, stride: 2, padding: .same), "conv3x3_same_stride2")
    }

    // layer_case("conv3x3_valid_stride2", conv((0, 0, 0, 0), 2), {"x": rand((2, 2, 9, 8))},
    //            {"weight": rand((3, 2, 3, 3), -0.5, 0.5), "bias": rand((3,), -0.5, 0.5)})
    func testConv3x3ValidStride2() throws {
        try checkLayer(conv(2, 3, 3, stride: 2, padding: .valid), "conv3x3_valid_stride2")
    }

    // layer_case("conv1x1", conv((0, 0, 0, 0), 1), {"x": rand((2, 5, 4, 3))},
    //            {"weight": rand((3, 5, 1, 1), -0.5, 0.5), "bias": rand((3,), -0.5, 0.5)})
    func testConv1x1() throws {
        try checkLayer(conv(5, 3, 1, padding: .same), "conv1x1")
    }

    // layer_case("conv5x5_pad2", conv((2, 2, 2, 2), 1), {"x": rand((1, 2, 6, 7))},
    //            {"weight": rand((3, 2, 5, 5), -0.5, 0.5), "bias": rand((3,), -0.5, 0.5)})
    func testConv5x5Pad2() throws {
        try checkLayer(conv(2, 3, 5, padding: .explicit(2)), "conv5x5_pad2")
        // Stride 1 "same" pads a 5x5 kernel by 2 on every side too.
        try checkLayer(conv(2, 3, 5, padding: .same), "conv5x5_pad2")
    }

    // MARK: - Other layers

    // layer_case("conv_transpose2x2", lambda x, weight, bias: F.conv_transpose2d(x, weight, bias, stride=2),
    //            {"x": rand((2, 3, 3, 4))}, {"weight": rand((3, 2, 2, 2)), "bias": rand((2,))})
    func testConvTranspose2x2() throws {
        var rng = RandomGenerator(seed: 0)
        try checkLayer(ConvTranspose2D(inputChannels: 3, outputChannels: 2, rng: &rng), "conv_transpose2x2")
    }

    // layer_case("maxpool2x2", lambda x: F.max_pool2d(x, 2), {"x": rand((2, 3, 7, 6))})  # odd H: floor
    func testMaxPool() throws {
        try checkLayer(MaxPool2D(), "maxpool2x2")
    }

    // layer_case("upsample_nearest", lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
    //            {"x": rand((2, 3, 3, 4))})
    func testUpsampleNearest() throws {
        try checkLayer(UpSampling2D(factor: 2, mode: .nearest), "upsample_nearest")
    }

    // layer_case("upsample_bilinear",
    //            lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
    //            {"x": rand((2, 3, 3, 5))})
    func testUpsampleBilinear() throws {
        try checkLayer(UpSampling2D(factor: 2, mode: .bilinear), "upsample_bilinear")
    }

    // layer_case("concat", lambda a, b: torch.cat([a, b], dim=1), {"a": rand((2, 2, 3, 4)), "b": rand((2, 3, 3, 4))})
    func testConcatenate() throws {
        try checkLayer(Concatenate(), "concat", inputs: ["a", "b"])
    }

    // layer_case("relu", lambda x: F.relu(x), {"x": rand((2, 3, 4, 5))})
    func testReLU() throws {
        try checkLayer(ReLU(), "relu")
    }

    // layer_case("sigmoid", lambda x: torch.sigmoid(x), {"x": rand((2, 3, 4, 5), -6, 6)})
    func testSigmoid() throws {
        try checkLayer(Sigmoid(), "sigmoid")
    }

    // layer_case("softmax4d", lambda x: F.softmax(x, dim=1), {"x": rand((2, 4, 3, 3), -3, 3)})
    // layer_case("softmax2d", lambda x: F.softmax(x, dim=1), {"x": rand((3, 5), -3, 3)})
    func testSoftmax() throws {
        try checkLayer(Softmax(), "softmax4d")
        try checkLayer(Softmax(), "softmax2d")
    }

    // layer_case("linear", lambda x, weight, bias: F.linear(x, weight, bias),
    //            {"x": rand((4, 6))}, {"weight": rand((3, 6)), "bias": rand((3,))})
    func testDense() throws {
        var rng = RandomGenerator(seed: 0)
        try checkLayer(Dense(inputFeatures: 6, outputFeatures: 3, rng: &rng), "linear")
    }

    // layer_case("flatten", lambda x: torch.flatten(x, 1), {"x": rand((2, 3, 2, 4))})
    func testFlatten() throws {
        try checkLayer(Flatten(), "flatten")
    }

    // layer_case("global_avg_pool", lambda x: torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), {"x": rand((2, 3, 5, 4))})
    func testGlobalAveragePooling() throws {
        try checkLayer(GlobalAveragePooling2D(), "global_avg_pool")
    }

    // bn = torch.nn.BatchNorm2d(4).double()  # BatchNorm1d(4) for "batchnorm1d", x (6, 4)
    // bn.weight, bn.bias = rand((4,), 0.5, 1.5), rand((4,))
    // bn.running_mean, bn.running_var, bn.num_batches_tracked = rand((4,)), rand((4,), 0.5, 2), 3
    // bn.train(); y = bn(x)  # x = rand((3, 4, 5, 3), -2, 3)
    // (y * r).sum().backward()  # saves y, dx, dweight, dbias and the running statistics after the step
    func testBatchNormTraining() throws {
        for fixture in ["batchnorm2d", "batchnorm1d"] {
            let g = try Golden(fixture)
            let bn = BatchNorm(channels: 4)
            bn.runningMean.assign(try g("running_mean0"))
            bn.runningVar.assign(try g("running_var0"))
            bn.batchesTracked[0] = 3
            try checkLayer(bn, fixture)
            assertClose(bn.runningMean, try g("running_mean"), atol: 1e-6, rtol: 1e-5, "\(fixture): running_mean")
            assertClose(bn.runningVar, try g("running_var"), atol: 1e-6, rtol: 1e-5, "\(fixture): running_var")
            XCTAssertEqual(bn.batchesTracked[0], try g.scalar("num_batches_tracked"), "\(fixture): num_batches_tracked")
        }
    }

    // MARK: - Losses

    // z = rand((2, 1, 4, 4), -30, 30); z[0, 0, :2] = rand((2, 4), -2, 2)  # large logits test the stable form
    // t = mask((2, 1, 4, 4)); t[1, 0, 0] = [0.3, 0.7, 0.5, 0.1]          # a few soft targets
    // loss_case("bce_logits", lambda z, t: F.binary_cross_entropy_with_logits(z, t), {"z": z, "t": t}, "z")
    func testBCEWithLogits() throws {
        let g = try Golden("bce_logits")
        try checkLoss(binaryCrossEntropy(logits: try g("z"), targets: try g("t")), g)
    }

    // The engine's rule with one channel: an element weighs w[t > 0.5]; with C > 1 (one-hot), w[argmax_c t].
    // bce_logits = lambda z, t, w: F.binary_cross_entropy_with_logits(z, t, weight=bce_weights(t, w))
    // loss_case("bce_logits_weighted", lambda z, t: bce_logits(z, t, [0.3, 2.5]),
    //           {"z": rand((2, 1, 5, 4), -4, 4), "t": mask((2, 1, 5, 4))}, "z")
    // loss_case("bce_logits_weighted_onehot", lambda z, t: bce_logits(z, t, [0.4, 1.6]),
    //           {"z": rand((6, 2), -3, 3), "t": one_hot([0, 1, 1, 0, 1, 0], 2)}, "z")
    func testWeightedBCE() throws {
        let g = try Golden("bce_logits_weighted")
        try checkLoss(binaryCrossEntropy(logits: try g("z"), targets: try g("t"), classWeights: [0.3, 2.5]), g)
        let h = try Golden("bce_logits_weighted_onehot")
        try checkLoss(binaryCrossEntropy(logits: try h("z"), targets: try h("t"), classWeights: [0.4, 1.6]), h)
    }

    // Keras: clip p to [eps, 1 - eps], eps = 1e-7 in float32; the clip's gradient is zero outside.
    // eps, hi = float(np.float32(1e-7)), float(np.float32(1) - np.float32(1e-7))
    // p = rand((3, 8), 0.01, 0.99); p[0, :4] = [0.0, 1.0, 1e-9, 1 - 1e-9]; t[0, :4] = [1, 0, 0, 1]
    // bce_probs = lambda p, t: -(t * p.clamp(eps, hi).log() + (1 - t) * (1 - p.clamp(eps, hi)).log()).mean()
    // loss_case("bce_probabilities", bce_probs, {"p": p, "t": t}, "p")
    func testBCEOnProbabilities() throws {
        let g = try Golden("bce_probabilities")
        try checkLoss(binaryCrossEntropy(probabilities: try g("p"), targets: try g("t")), g, wrt: "p")
    }

    // labels = rand((2, 4, 5), 0, 3).floor()
    // loss_case("ce_spatial", lambda z, labels: F.cross_entropy(z, labels.long()),
    //           {"z": rand((2, 3, 4, 5), -3, 3), "labels": labels}, "z")
    // loss_case("ce_spatial_weighted", lambda z, labels: F.cross_entropy(z, labels.long(), weight=[0.2, 1.0, 3.0]),
    //           {"z": rand((2, 3, 4, 5), -3, 3), "labels": labels}, "z")
    // loss_case("ce_weighted", lambda z, labels: F.cross_entropy(z, labels.long(), weight=[0.5, 2.0, 1.0, 1.5]),
    //           {"z": rand((5, 4), -3, 3), "labels": [0, 3, 1, 1, 2]}, "z")
    func testCrossEntropy() throws {
        let a = try Golden("ce_spatial")
        try checkLoss(softmaxCrossEntropy(logits: try a("z"), labels: try a("labels")), a)
        let b = try Golden("ce_spatial_weighted")
        try checkLoss(softmaxCrossEntropy(logits: try b("z"), labels: try b("labels"), classWeights: [0.2, 1, 3]), b)
        let c = try Golden("ce_weighted")
        try checkLoss(
            softmaxCrossEntropy(logits: try c("z"), labels: try c("labels"), classWeights: [0.5, 2, 1, 1.5]),
            c)
    }

    // The engine's soft Dice: p = sigmoid(z) (one channel) or softmax over channels; per image and class
    // dice = (2 sum(p t) + 1) / (sum p + sum t + 1); loss = 1 - class-weighted mean (weights unused for C = 1).
    // def dice(z, t, w=None):
    //     p = torch.sigmoid(z) if z.shape[1] == 1 else torch.softmax(z, dim=1)
    //     d = (2 * (p * t).flatten(2).sum(-1) + 1) / (p.flatten(2).sum(-1) + t.flatten(2).sum(-1) + 1)
    //     wk = ones(C) if w is None or C == 1 else tensor(w)
    //     return ((1 - d) * wk).sum() / (wk.sum() * N)
    // loss_case("dice", dice, {"z": rand((2, 1, 6, 5), -3, 3), "t": mask((2, 1, 6, 5))}, "z")
    // loss_case("dice_softmax_weighted", lambda z, t: dice(z, t, [0.5, 1.0, 2.0]),
    //           {"z": rand((2, 3, 4, 4), -3, 3), "t": one_hot(rand((2, 4, 4), 0, 3).floor(), 3)}, "z")
    func testDice() throws {
        let a = try Golden("dice")
        try checkLoss(diceLoss(logits: try a("z"), targets: try a("t")), a)
        let b = try Golden("dice_softmax_weighted")
        try checkLoss(diceLoss(logits: try b("z"), targets: try b("t"), classWeights: [0.5, 1, 2]), b)
    }

    // loss_case("bce_dice", lambda z, t: bce_logits(z, t) + dice(z, t),
    //           {"z": rand((2, 1, 6, 5), -3, 3), "t": mask((2, 1, 6, 5))}, "z")
    // loss_case("bce_dice_weighted", lambda z, t: bce_logits(z, t, [0.7, 1.9]) + dice(z, t, [0.7, 1.9]),
    //           {"z": rand((2, 2, 4, 4), -3, 3), "t": one_hot(rand((2, 4, 4), 0, 2).floor(), 2)}, "z")
    func testBCEPlusDice() throws {
        let a = try Golden("bce_dice")
        try checkLoss(bceDiceLoss(logits: try a("z"), targets: try a("t")), a)
        let b = try Golden("bce_dice_weighted")
        try checkLoss(bceDiceLoss(logits: try b("z"), targets: try b("t"), classWeights: [0.7, 1.9]), b)
    }

    // MARK: - Optimizers

    /// Five steps of `optimizer` on the fixture's gradients g1..g5 from w0 (3, 4) and b0 (5), comparing the
    /// parameters after every step and the optimizer's state after the last.
    func checkOptimizer(
        _ fixture: String, _ optimizer: Optimizer, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let g = try Golden(fixture)
        let w = Parameter("weight", try g("w0").copy())
        let b = Parameter("bias", try g("b0").copy())
        for k in 1...5 {
            w.grad.assign(try g("gw\(k)"))
            b.grad.assign(try g("gb\(k)"))
            optimizer.step([w, b])
            assertClose(
                w.value, try g("w\(k)"), atol: 2e-6, rtol: 1e-5, "\(fixture): w after step \(k)",
                file: file, line: line)
            assertClose(
                b.value, try g("b\(k)"), atol: 2e-6, rtol: 1e-5, "\(fixture): b after step \(k)",
                file: file, line: line)
        }
        let keys = optimizer.kind == .sgd ? ["momentum_buffer"] : ["exp_avg", "exp_avg_sq"]
        for (i, key) in keys.enumerated() {
            let state = i == 0 ? optimizer.first : optimizer.second
            XCTAssertEqual(state.count, 2, "\(fixture): state for two parameters", file: file, line: line)
            for (j, p) in ["w", "b"].enumerated() where j < state.count {
                assertClose(
                    state[j], try g("state_\(p).\(key)"), atol: 2e-6, rtol: 1e-5, "\(fixture): \(p) \(key)",
                    file: file, line: line)
            }
        }
    }

    // for k in 1..5: w.grad, b.grad = gw[k], gb[k]; opt.step()  # saves w[k], b[k], then opt.state
    // torch.optim.SGD([w, b], lr=0.1, momentum=0.9)
    // torch.optim.SGD([w, b], lr=0.1, momentum=0.9, nesterov=True)
    // torch.optim.SGD([w, b], lr=0.1, momentum=0.9, weight_decay=0.05)
    func testSGD() throws {
        try checkOptimizer("optim_sgd_momentum", Optimizer(kind: .sgd, learningRate: 0.1, momentum: 0.9))
        try checkOptimizer(
            "optim_sgd_nesterov",
            Optimizer(kind: .sgd, learningRate: 0.1, momentum: 0.9, nesterov: true))
        try checkOptimizer(
            "optim_sgd_momentum_wd",
            Optimizer(kind: .sgd, learningRate: 0.1, weightDecay: 0.05, momentum: 0.9))
    }

    // torch.optim.Adam([w, b], lr=0.01)
    // torch.optim.Adam([w, b], lr=0.01, weight_decay=0.1)   # L2 added to the gradient
    // torch.optim.AdamW([w, b], lr=0.01, weight_decay=0.1)  # decoupled decay
    func testAdamAndAdamW() throws {
        try checkOptimizer("optim_adam", Optimizer(kind: .adam, learningRate: 0.01))
        try checkOptimizer("optim_adam_wd", Optimizer(kind: .adam, learningRate: 0.01, weightDecay: 0.1))
        try checkOptimizer("optim_adamw", Optimizer(kind: .adamw, learningRate: 0.01, weightDecay: 0.1))
    }

    // MARK: - 10 Adam steps of a small U-Net

    // In float32, as a PyTorch user would run it (Tests/python/torch_models.py holds the twin):
    // torch.manual_seed(0)
    // model = torch_models.UNet(in_channels=1, classes=1, depth=2, filters=4, batch_norm=True, upsampling="transpose")
    // x = randn((2, 1, 16, 16)); target = two elliptic blobs (2, 1, 16, 16)
    // opt = torch.optim.Adam(model.parameters(), lr=1e-3); model.train()
    // for step in range(10):
    //     opt.zero_grad(); logits, _ = model(x)
    //     loss = F.binary_cross_entropy_with_logits(logits, target); loss.backward()
    //     losses.append(loss.item()); opt.step()
    // saves init.* (state_dict before), grad.* and logits0 (first step), losses, final.* (state_dict after)
    func testUNetTenAdamStepsMatchPyTorch() throws {
        let g = try Golden("unet_adam10")
        let config = ModelConfig(
            architecture: .unet, inputShape: [1, 16, 16], classes: 1, seed: 0, depth: 2,
            filters: 4, batchNorm: true, upsampling: .transpose)
        let model = try Model.build(config)
        let net = model.network
        // Load PyTorch's initial weights by name; the fixture must hold exactly the engine's names.
        let initNames = Set(g.file.tensors.keys.filter { $0.hasPrefix("init.") }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(initNames, Set(net.namedParameters.map(\.name) + net.namedBuffers.map(\.name)))
        for (name, p) in net.namedParameters { p.value.assign(try g("init." + name)) }
        for (name, t) in net.namedBuffers { t.assign(try g("init." + name)) }

        let x = try g("x"), target = try g("target")
        let parameters = net.namedParameters.map(\.parameter)
        let optimizer = Optimizer(kind: .adam, learningRate: 1e-3)
        var losses: [Float] = []
        net.zeroGradients()
        for step in 0..<10 {
            let out = try model.forward(x, training: true)
            let mask = try XCTUnwrap(out.mask)
            let loss = binaryCrossEntropy(logits: mask, targets: target)
            losses.append(loss.loss)
            model.backward(maskGradient: loss.gradient, classGradient: nil)
            if step == 0 {
                assertClose(mask, try g("logits0"), atol: 1e-6, rtol: 1e-4, "logits of step 1")
                for (name, p) in net.namedParameters {
                    assertClose(p.grad, try g("grad." + name), atol: 1e-6, rtol: 1e-4, "gradient of \(name), step 1")
                }
            }
            optimizer.step(parameters)
            net.zeroGradients()
        }
        let expected = try g("losses").array
        assertClose(losses, expected, atol: 0, rtol: 1e-5, "10 Adam steps: losses \(losses) vs PyTorch \(expected)")
        XCTAssertLessThan(losses[9], losses[0], "the loss falls")
        // Adam moves each weight by up to lr = 1e-3 a step, so a weight off by 1e-5 would be a real difference.
        for (name, p) in net.namedParameters {
            assertClose(p.value, try g("final." + name), atol: 1e-5, rtol: 1e-4, "\(name) after 10 steps")
        }
        for (name, t) in net.namedBuffers {
            assertClose(t, try g("final." + name), atol: 1e-5, rtol: 1e-4, "\(name) after 10 steps")
        }
    }
}
