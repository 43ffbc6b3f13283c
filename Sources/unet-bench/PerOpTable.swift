import UNetCore

/// A 3x3 convolution's channels and output size.
struct ConvShape: Hashable { let c, o, k, h, w: Int }

/// The distinct 3x3 convolutions of the reference classifier at 224 and of Ronneberger's U-Net at 256.
func convShapes() -> [ConvShape] {
    var shapes: [ConvShape] = []
    for mc in modelCases {
        guard let model = try? Model.build(mc.config),
            let s = try? model.network.shapes(for: [1] + mc.config.inputShape)
        else { continue }
        for (i, node) in model.network.nodes.enumerated() {
            guard let conv = node.layer as? Conv2D, conv.kernelH == 3 else { continue }
            let out = s[i]
            let shape = ConvShape(c: conv.inputChannels, o: conv.outputChannels, k: 3, h: out[2], w: out[3])
            if !shapes.contains(shape) { shapes.append(shape) }
        }
    }
    return shapes
}

/// Per-op throughput at the U-Nets' shapes, forward and backward (GFLOP/s for convolutions, GB/s for memory-bound
/// ops), each fast kernel first checked against its naive oracle (a disagreement stops the benchmark, exit 1).
func perOpRows(_ settings: BenchSettings) -> [OpRow] {
    var rows: [OpRow] = []
    let defaultWinograd = ConvolutionAlgorithms.winogradEnabled
    print("\nper-op (batch 1 unless noted; fast kernels validated against naive first)")
    // The backward is compared with sgemm on the backward's own two products (dW = dy·colᵀ and dcol = Wᵀ·dy),
    // whose shapes differ from the forward's: for a first layer (K = 9) the weight gradient's (64 x 9 x P) runs at
    // a lower rate than the forward shape's in OpenBLAS itself.
    print(
        pad("op", 42) + pad("forward", 16) + pad("backward", 16) + pad("sgemm fwd shape", 17) + pad("fwd / sgemm", 13)
            + pad("sgemm bwd shapes", 18) + "bwd / sgemm")
    var rng = RandomGenerator(seed: 3)
    let shapes = settings.quick ? Array(convShapes().prefix(3)) : convShapes()
    for s in shapes {
        let conv = Conv2D(inputChannels: s.c, outputChannels: s.o, kernelSize: 3, rng: &rng)
        // Validate on a small window of the same channels and kernel against the direct convolution.
        let small = Tensor(zeros: [1, s.c, 9, 11])
        for i in 0..<small.count { small[i] = rng.uniform(-1, 1) }
        let fast = conv.forward(small, training: false)
        let g = ConvGeometry(channels: s.c, height: 9, width: 11, kernelH: 3, kernelW: 3, padding: .same)
        let naive = Tensor(zeros: fast.shape)
        conv2dNaive(
            small.data, g, weight: conv.weight.value.data, bias: conv.bias!.value.data, outChannels: s.o,
            naive.data)
        requireAgreement("Conv2D \(s)", fast, naive, tolerance: 1e-3)
        // And the Winograd kernel at the full shape against the im2col path (its oracle), forward.
        let probe = Tensor(zeros: [1, s.c, s.h, s.w])
        for i in 0..<probe.count { probe[i] = rng.uniform(-1, 1) }
        if defaultWinograd && conv.usesWinograd(probe.shape) {
            let fastY = conv.forward(probe, training: false)
            ConvolutionAlgorithms.winogradEnabled = false
            let refY = conv.forward(probe, training: false)
            ConvolutionAlgorithms.winogradEnabled = true
            var scale: Float = 0
            for i in 0..<refY.count { scale = max(scale, abs(refY[i])) }
            requireAgreement("Winograd \(s) (against im2col)", fastY, refY, tolerance: 1e-4 * max(scale, 1))
        }

        let x = Tensor(zeros: [1, s.c, s.h, s.w])
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let dy = Tensor(zeros: [1, s.o, s.h, s.w])
        for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
        let flops = 2 * Double(s.c * 9 * s.o * s.h * s.w)
        let gemmRepeats = settings.quick ? 1 : 3
        let (p, k) = (s.h * s.w, s.c * 9)
        let peak = gemmGFLOPs(m: s.o, n: p, k: k, repeats: gemmRepeats)
        let weightGEMM = gemmSeconds(transB: true, m: s.o, n: k, k: p, repeats: gemmRepeats)
        let dataGEMM = gemmSeconds(transA: true, m: k, n: p, k: s.o, repeats: gemmRepeats)
        let backwardPeak = 2 * flops / (weightGEMM + dataGEMM) / 1e9
        // Both algorithms where Winograd applies; "effective" GFLOP/s count the direct convolution's FLOPs.
        let algorithms = conv.usesWinograd(x.shape) ? [false, true] : [false]
        for winograd in algorithms {
            ConvolutionAlgorithms.winogradEnabled = winograd
            let repeats = settings.quick ? 2 : 5
            let tf = timeBest(repeats) { _ = conv.forward(x, training: false) }
            // The backward timed on its own after one training forward, so that it meets its operands in the
            // cache the way the reference sgemm meets its own (warm, best of several). Timing forward + backward
            // and subtracting the forward charged the backward with the forward's evictions (RESULTS.md has the
            // figures for the first layer at 256x256).
            _ = conv.forward(x, training: true)
            let tb = timeBest(repeats) { _ = conv.backward(dy) }
            let name = "Conv2D 3x3 \(s.c)->\(s.o) @\(s.h)x\(s.w) " + (winograd ? "winograd" : "im2col")
            let (fwd, bwd) = (flops / tf / 1e9, 2 * flops / max(tb, 1e-9) / 1e9)
            print(
                pad(name, 42) + pad(fmt(fwd) + " GFLOP/s", 16) + pad(fmt(bwd) + " GFLOP/s", 16)
                    + pad(fmt(peak) + " GFLOP/s", 17) + pad(fmt(fwd / peak, 2), 13)
                    + pad(fmt(backwardPeak) + " GFLOP/s", 18) + fmt(bwd / backwardPeak, 2))
            var row = OpRow(op: name)
            (row.forwardGFLOPs, row.backwardGFLOPs, row.sgemmGFLOPs, row.sgemmBackwardGFLOPs) =
                (fwd, bwd, peak, backwardPeak)
            rows.append(row)
            guard s.c <= 3 else { continue }
            // A network's first layer: training never asks for its input gradient (`backwardParametersOnly`),
            // so its backward is the weight gradient's one product. Timed that way too, counting one product.
            let tw = timeBest(repeats) { conv.backwardParametersOnly(dy) }
            let (wOnly, weightPeak) = (flops / max(tw, 1e-9) / 1e9, flops / weightGEMM / 1e9)
            print(
                pad("  the same, weights-only backward", 42) + pad("", 16) + pad(fmt(wOnly) + " GFLOP/s", 16)
                    + pad("", 17) + pad("", 13) + pad(fmt(weightPeak) + " GFLOP/s", 18) + fmt(wOnly / weightPeak, 2))
            var weightsOnly = OpRow(op: name + " (weights-only backward)")
            (weightsOnly.backwardGFLOPs, weightsOnly.sgemmBackwardGFLOPs) = (wOnly, weightPeak)
            rows.append(weightsOnly)
        }
        ConvolutionAlgorithms.winogradEnabled = defaultWinograd
    }
    // Memory-bound ops on the classifier's largest activation: (1, 64, 224, 224).
    let act = Tensor(zeros: [1, 64, 224, 224])
    for i in 0..<act.count { act[i] = rng.uniform(-1, 1) }
    let bytes = Double(act.count * 4)
    let memOps: [(String, Layer, Double)] = [
        ("ReLU 64@224", ReLU(), 2), ("MaxPool2D 64@224", MaxPool2D(), 1.25),
        ("UpSampling2D nearest 64@112", UpSampling2D(), 1.25), ("BatchNorm 64@224", BatchNorm(channels: 64), 3),
    ]
    for (name, layer, traffic) in memOps {
        let input = name.contains("@112") ? Tensor(zeros: [1, 64, 112, 112]) : act
        let t = timeBest(3) { _ = layer.forward([input], training: true) }
        let y = layer.forward([input], training: true)
        let tb = timeBest(3) { _ = layer.backward(y) }
        let gbF = traffic * bytes / t / 1e9, gbB = traffic * bytes / tb / 1e9
        print(pad(name, 42) + pad(fmt(gbF) + " GB/s", 16) + pad(fmt(gbB) + " GB/s", 16))
        var row = OpRow(op: name)
        (row.forwardGBps, row.backwardGBps) = (gbF, gbB)
        rows.append(row)
    }
    return rows + efficientNetOpRows(quick: settings.quick)
}
