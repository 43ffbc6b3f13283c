// The memory-bound layers of an EfficientNet encoder (issue 14) in `--ops-only` and `--efficientnet-ops`: GB/s of
// depthwise convolution (3x3 and 5x5, stride 1 and 2, at the widths of efficientnet-b1's stages 2 and 5: 96
// channels at 112x112 and 240 at 28x28), SiLU and squeeze-and-excitation gating, batch 8, beside the machine's
// memory bandwidth (`streamBandwidth`, STREAM's copy and triad on the engine's threads) and as a share of it.
// Each kernel is checked against its naive oracle first. The header names the vector kernels that ran
// (`SIMDLevel`): `UNET_SIMD=portable` times the Swift kernels in the same binary.
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
    let g = ConvGeometry(
        channels: 1, height: 13, width: 37, kernelH: layer.kernelSize, kernelW: layer.kernelSize,
        strideH: layer.stride, strideW: layer.stride, padding: layer.padding)
    let (yRef, dxRef, dwRef) = (Tensor(zeros: y.shape), Tensor(zeros: x.shape), Tensor(zeros: layer.weight.value.shape))
    let k2 = layer.kernelSize * layer.kernelSize
    for p in 0..<(2 * layer.channels) {
        let c = p % layer.channels
        let w = layer.weight.value.data + c * k2
        depthwiseNaiveForward(x.data + p * 13 * 37, g, w, bias: 0, yRef.data + p * g.outH * g.outW)
        depthwiseNaiveBackward(
            x.data + p * 13 * 37, dy.data + p * g.outH * g.outW, g, w, dx: dxRef.data + p * 13 * 37,
            dw: dwRef.data + c * k2)
    }
    let name = "DepthwiseConv2D \(layer.kernelSize)x\(layer.kernelSize) stride \(layer.stride)"
    requireAgreement(name + " forward", y, yRef)
    requireAgreement(name + " input gradient", dx, dxRef)
    requireAgreement(name + " weight gradient", layer.weight.grad, dwRef, tolerance: 1e-3)
}

/// Best-of-`repeats` seconds of `body` after one warm-up call, twice: by the wall clock, and by the process's CPU
/// time over the engine's threads. On a shared machine the wall clock also counts the time other tenants held the
/// cores (under a heavy load a loop of a few milliseconds is nearly always preempted); CPU time does not, so a kernel's
/// share of the bandwidth is given both ways, each against STREAM measured the same way.
func timeBestWallAndCPU(_ repeats: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
    func cpuSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
    body()
    var best = (wall: Double.infinity, cpu: Double.infinity)
    for _ in 0..<repeats {
        let (t, c) = (DispatchTime.now().uptimeNanoseconds, cpuSeconds())
        body()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
        best = (min(best.wall, wall), min(best.cpu, (cpuSeconds() - c) / Double(Parallel.threads)))
    }
    return best
}

/// The machine's memory bandwidth as McCalpin's STREAM measures it: copy (a = b, 2 arrays) and triad
/// (a = b + q·c, 3 arrays) over `count` floats each, far more than the caches hold, split over the engine's
/// threads as the layers' loops are; bytes read plus bytes written, best of `repeats`. The memory-bound layers
/// cannot go faster than this, so their GB/s are shown as a share of it.
func streamBandwidth(count: Int, repeats: Int)
    -> (copy: (wall: Double, cpu: Double), triad: (wall: Double, cpu: Double))
{
    let (a, b, c) = (Tensor(zeros: [count]), Tensor(shape: [count], repeating: 1), Tensor(shape: [count], repeating: 2))
    let state = (a: a.data, b: UnsafeRawPointer(b.data), c: UnsafeRawPointer(c.data))
    let copy = timeBestWallAndCPU(repeats) {
        Parallel.forEachChunk(count, with: state) { s, r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = s.b.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(s.a + i).storeBytes(of: v, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound { s.a[i] = s.b.load(fromByteOffset: 4 * i, as: Float.self); i += 1 }
        }
    }
    let triad = timeBestWallAndCPU(repeats) {
        Parallel.forEachChunk(count, with: state) { s, r in
            let q = SIMD8<Float>(repeating: 3)
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v =
                    s.b.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                    + q * s.c.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(s.a + i).storeBytes(of: v, as: SIMD8<Float>.self)
                i += 8
            }
            while i < r.upperBound {
                s.a[i] =
                    s.b.load(fromByteOffset: 4 * i, as: Float.self)
                    + 3 * s.c.load(fromByteOffset: 4 * i, as: Float.self)
                i += 1
            }
        }
    }
    let bytes = Double(count * 4)
    return (
        (2 * bytes / copy.wall / 1e9, 2 * bytes / copy.cpu / 1e9),
        (3 * bytes / triad.wall / 1e9, 3 * bytes / triad.cpu / 1e9)
    )
}

/// - Parameter batch: 8 as in the table; smaller to count instructions under callgrind in minutes.
func efficientNetOpRows(quick: Bool, batch: Int = 8) -> [OpRow] {
    var rng = RandomGenerator(seed: 14)
    var rows: [OpRow] = []
    // Best of five even in `--quick`: on a shared machine the best of fewer runs is mostly the other tenants.
    let repeats = quick ? 5 : 7
    let big = benchTensor([batch, 96, 112, 112], &rng)
    // The ceiling: STREAM over three arrays of at least the batch of 8's largest activation (each 37 MiB, beyond the
    // caches), whatever the batch.
    let stream = streamBandwidth(count: max(big.count, 8 * 96 * 112 * 112), repeats: repeats)
    let ceiling = (wall: max(stream.copy.wall, stream.triad.wall), cpu: max(stream.copy.cpu, stream.triad.cpu))
    print(
        "vector kernels: \(SIMDLevel.active) (of \(SIMDLevel.supported.map(\.description).joined(separator: ", ")); "
            + "\(SIMDLevel.overrideVariable)=portable runs the Swift ones)")
    print(
        "memory bandwidth (STREAM, \(Parallel.threads) threads, 3 x 37 MiB), by wall clock: "
            + "copy " + fmt(stream.copy.wall) + " GB/s, triad " + fmt(stream.triad.wall) + " GB/s; by CPU time: copy "
            + fmt(stream.copy.cpu) + ", triad " + fmt(stream.triad.cpu))
    print("shares: GB/s over the larger of copy and triad, by wall clock (by CPU time)")
    for (name, g) in [("stream copy", stream.copy), ("stream triad", stream.triad)] {
        var row = OpRow(op: name)
        (row.forwardGBps, row.forwardGBpsCPU) = (g.wall, g.cpu)
        rows.append(row)
    }
    print(pad("op", 42) + pad("forward", 16) + pad("of stream", 14) + pad("backward", 16) + "of stream")
    /// A row from the bytes moved and the forward's and backward's times.
    func report(
        _ name: String, bytes: (forward: Double, backward: Double?),
        _ forward: (wall: Double, cpu: Double), _ backward: (wall: Double, cpu: Double)?
    ) {
        let f = (wall: bytes.forward / forward.wall / 1e9, cpu: bytes.forward / forward.cpu / 1e9)
        let b = backward.map { (wall: bytes.backward! / $0.wall / 1e9, cpu: bytes.backward! / $0.cpu / 1e9) }
        let share = { (g: (wall: Double, cpu: Double)) in
            pad(fmt(100 * g.wall / ceiling.wall, 0) + "% (" + fmt(100 * g.cpu / ceiling.cpu, 0) + "%)", 14)
        }
        print(
            pad(name, 42) + pad(fmt(f.wall) + " GB/s", 16) + share(f)
                + (b.map { pad(fmt($0.wall) + " GB/s", 16) + share($0) } ?? ""))
        var row = OpRow(op: name)
        (row.forwardGBps, row.forwardOfStream, row.forwardOfStreamCPU) =
            (f.wall, f.wall / ceiling.wall, f.cpu / ceiling.cpu)
        if let b {
            (row.backwardGBps, row.backwardOfStream, row.backwardOfStreamCPU) =
                (b.wall, b.wall / ceiling.wall, b.cpu / ceiling.cpu)
        }
        rows.append(row)
    }

    for (c, hw) in [(96, 112), (240, 28)] {
        let x = hw == 112 ? big : benchTensor([batch, c, hw, hw], &rng)
        for k in [3, 5] {
            for stride in [1, 2] {
                let layer = DepthwiseConv2D(
                    channels: c, kernelSize: k, stride: stride, padding: .same, useBias: false,
                    rng: &rng)
                checkDepthwise(layer, &rng)
                let tf = timeBestWallAndCPU(repeats) { _ = layer.forward(x, training: false) }
                let y = layer.forward(x, training: true)
                let dy = benchTensor(y.shape, &rng)
                let tb = timeBestWallAndCPU(repeats) { _ = layer.backward(dy) }
                let (inBytes, outBytes) = (Double(x.count * 4), Double(y.count * 4))
                report(
                    "DepthwiseConv2D \(k)x\(k) s\(stride) \(batch)x\(c)@\(hw)",
                    bytes: (inBytes + outBytes, 2 * inBytes + outBytes), tf, tb)
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
    let ts = timeBestWallAndCPU(repeats) { _ = silu.forward(big, training: false) }
    _ = silu.forward(big, training: true)
    let tsb = timeBestWallAndCPU(repeats) { _ = silu.backward(big) }
    report("SiLU \(batch)x96@112", bytes: (2 * bytes, 3 * bytes), ts, tsb)

    // Gating: x·s against the direct product, then timed.
    let gate = ChannelGate()
    let s = benchTensor([batch, 96, 1, 1], &rng)
    let gated = gate.forward([big, s], training: true)
    let plane = 112 * 112
    let expected = Tensor(zeros: big.shape)
    for i in 0..<big.count { expected[i] = big[i] * s[i / plane] }
    requireAgreement("ChannelGate forward", gated, expected, tolerance: 0)
    let tg = timeBestWallAndCPU(repeats) { _ = gate.forward([big, s], training: false) }
    _ = gate.forward([big, s], training: true)
    let tgb = timeBestWallAndCPU(repeats) { _ = gate.backward(big) }
    report("ChannelGate \(batch)x96@112", bytes: (2 * bytes, 3 * bytes), tg, tgb)
    return rows
}
