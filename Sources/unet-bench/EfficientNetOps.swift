// The memory-bound layers of an EfficientNet encoder (issue 14) in `--ops-only` and `--efficientnet-ops`: GB/s of
// depthwise convolution (3x3 and 5x5, stride 1 and 2, at the widths of efficientnet-b1's stages 2 and 5: 96
// channels at 112x112 and 240 at 28x28), SiLU and squeeze-and-excitation gating, batch 8, beside a plain copy
// of the same bytes as the machine's ceiling. Each kernel is checked against its naive oracle first.
//
// GB/s count the bytes a layer must move at least: depthwise forward reads x and writes y, its backward reads x
// and dy and writes dx (the weight gradient and the input gradient are two passes over them, so the real traffic
// is higher); SiLU 2 and 3 tensors, gating the same (the gates are negligible).
import Foundation
import UNetCore

/// A tensor of `shape` with seeded uniform values in [-1, 1).
func benchTensor(_ shape: [Int], _ rng: inout RandomGenerator) -> Tensor {
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t[i] = rng.uniform(-1, 1) }
    return t
}

/// Stops the benchmark when a fast kernel disagrees with its oracle by more than `tolerance`.
func requireAgreement(_ what: String, _ fast: Tensor, _ naive: Tensor, tolerance: Float = 1e-4) {
    var worst: Float = 0
    for i in 0..<naive.count { worst = max(worst, abs(naive[i] - fast[i])) }
    guard worst <= tolerance else {
        print("\(what) disagrees with its naive oracle by \(worst)")
        exit(1)
    }
}

/// The depthwise layer against `depthwiseNaiveForward` / `depthwiseNaiveBackward` on a small batch of `c` channels.
func checkDepthwise(_ layer: DepthwiseConv2D, _ rng: inout RandomGenerator) {
    let x = benchTensor([2, layer.channels, 13, 37], &rng)
    let y = layer.forward(x, training: true)
    let dy = benchTensor(y.shape, &rng)
    layer.weight.grad.zero()
    let dx = layer.backward(dy)
    let g = ConvGeometry(channels: 1, height: 13, width: 37, kernelH: layer.kernelSize, kernelW: layer.kernelSize,
                         strideH: layer.stride, strideW: layer.stride, padding: layer.padding)
    let (yRef, dxRef, dwRef) = (Tensor(zeros: y.shape), Tensor(zeros: x.shape), Tensor(zeros: layer.weight.value.shape))
    let k2 = layer.kernelSize * layer.kernelSize
    for p in 0..<(2 * layer.channels) {
        let c = p % layer.channels
        let w = layer.weight.value.data + c * k2
        depthwiseNaiveForward(x.data + p * 13 * 37, g, w, bias: 0, yRef.data + p * g.outH * g.outW)
        depthwiseNaiveBackward(x.data + p * 13 * 37, dy.data + p * g.outH * g.outW, g, w, dx: dxRef.data + p * 13 * 37,
                               dw: dwRef.data + c * k2)
    }
    let name = "DepthwiseConv2D \(layer.kernelSize)x\(layer.kernelSize) stride \(layer.stride)"
    requireAgreement(name + " forward", y, yRef)
    requireAgreement(name + " input gradient", dx, dxRef)
    requireAgreement(name + " weight gradient", layer.weight.grad, dwRef, tolerance: 1e-3)
}

func efficientNetOpRows(quick: Bool) -> [[String: Any]] {
    var rng = RandomGenerator(seed: 14)
    var rows: [[String: Any]] = []
    let repeats = quick ? 2 : 3
    func report(_ name: String, forward: Double, backward: Double?) {
        print(pad(name, 42) + pad(fmt(forward) + " GB/s", 16) + (backward.map { fmt($0) + " GB/s" } ?? ""))
        var row: [String: Any] = ["op": name, "forward_gbps": forward]
        if let backward { row["backward_gbps"] = backward }
        rows.append(row)
    }
    let batch = 8
    let big = benchTensor([batch, 96, 112, 112], &rng)
    // The ceiling: one copy of the largest activation (read + write).
    let copy = Tensor(zeros: big.shape)
    let tc = timeBest(repeats) { copy.assign(big) }
    report("copy 8x96@112 (read + write)", forward: 2 * Double(big.count * 4) / tc / 1e9, backward: nil)

    for (c, hw) in [(96, 112), (240, 28)] {
        let x = hw == 112 ? big : benchTensor([batch, c, hw, hw], &rng)
        for k in [3, 5] {
            for stride in [1, 2] {
                let layer = DepthwiseConv2D(channels: c, kernelSize: k, stride: stride, padding: .same, useBias: false,
                                            rng: &rng)
                checkDepthwise(layer, &rng)
                let tf = timeBest(repeats) { _ = layer.forward(x, training: false) }
                let y = layer.forward(x, training: true)
                let dy = benchTensor(y.shape, &rng)
                let tb = timeBest(repeats) { _ = layer.backward(dy) }
                let (inBytes, outBytes) = (Double(x.count * 4), Double(y.count * 4))
                report("DepthwiseConv2D \(k)x\(k) s\(stride) 8x\(c)@\(hw)", forward: (inBytes + outBytes) / tf / 1e9,
                       backward: (2 * inBytes + outBytes) / tb / 1e9)
            }
        }
    }

    // SiLU against the scalar oracle, then timed.
    let silu = SiLU()
    let sample = benchTensor([4099], &rng)
    for i in 0..<sample.count { sample[i] *= 40 }
    let fast = silu.forward(sample, training: true)
    let ones = Tensor(shape: sample.shape, repeating: 1)
    let fastGrad = silu.backward(ones)
    let (naive, naiveGrad) = (Tensor(zeros: sample.shape), Tensor(zeros: sample.shape))
    for i in 0..<sample.count { (naive[i], naiveGrad[i]) = siluNaive(sample[i]) }
    requireAgreement("SiLU forward", fast, naive, tolerance: 1e-4)
    requireAgreement("SiLU backward", fastGrad, naiveGrad, tolerance: 1e-5)
    let bytes = Double(big.count * 4)
    let ts = timeBest(repeats) { _ = silu.forward(big, training: false) }
    _ = silu.forward(big, training: true)
    let tsb = timeBest(repeats) { _ = silu.backward(big) }
    report("SiLU 8x96@112", forward: 2 * bytes / ts / 1e9, backward: 3 * bytes / tsb / 1e9)

    // Gating: x·s against the direct product, then timed.
    let gate = ChannelGate()
    let s = benchTensor([batch, 96, 1, 1], &rng)
    let gated = gate.forward([big, s], training: true)
    let plane = 112 * 112
    let expected = Tensor(zeros: big.shape)
    for i in 0..<big.count { expected[i] = big[i] * s[i / plane] }
    requireAgreement("ChannelGate forward", gated, expected, tolerance: 0)
    let tg = timeBest(repeats) { _ = gate.forward([big, s], training: false) }
    _ = gate.forward([big, s], training: true)
    let tgb = timeBest(repeats) { _ = gate.backward(big) }
    report("ChannelGate 8x96@112", forward: 2 * bytes / tg / 1e9, backward: 3 * bytes / tgb / 1e9)
    return rows
}
