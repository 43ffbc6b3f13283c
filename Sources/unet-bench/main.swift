// unet-bench: how fast the engine is, as ratios you can compare on a shared, noisy machine.
//
//     swift build -c release && .build/release/unet-bench [--threads N] [--json PATH] [--quick] [--skip-ops]
//     .build/release/unet-bench --profile unet-classifier-224 train    # where one step's time goes, per layer
//     .build/release/unet-bench --sgemm-only [--blas-core Prescott]   # the BLAS core and its sgemm ceiling
//
// 0. The BLAS library, version and core, after the engine's start-up check (BLASCoreCheck), which may restart the
//    benchmark with OPENBLAS_CORETYPE set to the best core for this CPU; whole-model children inherit that core.
// 1. The sgemm ceiling: OpenBLAS on a large square product and on the im2col GEMM shape of every convolution.
// 2. Per-op throughput at the U-Nets' shapes, forward and backward (GFLOP/s for convolutions and Dense, GB/s for
//    memory-bound ops), each fast kernel first checked against its naive oracle.
// 3. Whole models: inference and training-step images/s, achieved GFLOP/s and peak RSS for the reference
//    classifier (224x224x3 and 128x128x1, batch 8) and Ronneberger's U-Net (256x256x1, batch 4). Each whole-model
//    run happens in a child process so its peak RSS is its own.
import CAllocationCounter
import Foundation
import UNetCore

#if DEBUG
FileHandle.standardError.write(Data("unet-bench measures release builds only: swift build -c release\n".utf8))
exit(2)
#endif

struct Options {
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var json: String?
    var quick = false
    var skipOps = false
    /// `--ops-only`: the sgemm ceiling and the per-op table, no whole models.
    var opsOnly = false
    var child: (String, String)?
    /// `--conv N,C,O,H,W`: time one 3x3 "same" convolution both ways and exit (for tuning the algorithm choice).
    var conv: [Int]?
    /// `--profile NAME MODE`: time every node of one whole-model case and print the breakdown.
    var profile: (String, String)?
    /// `--winograd-parts N,C,O,H,W`: best-of-10 seconds of each stage of one Winograd forward, then exit.
    var winogradParts: [Int]?
    /// `--alloc-probe`: heap allocations per call of a few building blocks, then exit.
    var allocProbe = false
    /// `--batch N`: overrides the batch size of `--model-run`, `--profile` and `--efficientnet-ops` (e.g. 1, as
    /// `predict` used to run).
    var batch: Int?
    /// `--first-layers`: the first layers' weights-only backward against sgemm, warm and cold, then exit.
    var firstLayers = false
    /// `--extra-cases`: the whole-model run covers `extraModelCases` (the real-data configurations) too.
    var extraCases = false
    /// `--effunet-cases`: and `effUNetModelCases` (issue 15's smp comparison).
    var effUNetCases = false
    /// `--sgemm-only`: the BLAS line and the sgemm ceiling, then exit (to compare BLAS cores in seconds).
    var sgemmOnly = false
    /// `--efficientnet-ops`: only the EfficientNet layers' part of the per-op table (`EfficientNetOps.swift`), then exit.
    var efficientNetOps = false
}

// Before any BLAS call: the same core check as the engine (may restart the process; takes --blas-core NAME).
var args = Array(BLASCoreCheck.atStartup(CommandLine.arguments, program: "unet-bench").dropFirst())
var options = Options()
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "--threads": options.threads = Int(args.removeFirst()) ?? options.threads
    case "--json": options.json = args.removeFirst()
    case "--quick": options.quick = true
    case "--skip-ops": options.skipOps = true
    case "--ops-only": options.opsOnly = true
    case "--model-run": options.child = (args.removeFirst(), args.removeFirst())
    case "--profile": options.profile = (args.removeFirst(), args.removeFirst())
    case "--alloc-probe": options.allocProbe = true
    case "--batch": options.batch = Int(args.removeFirst())
    case "--first-layers": options.firstLayers = true
    case "--extra-cases": options.extraCases = true
    case "--effunet-cases": options.effUNetCases = true
    case "--sgemm-only": options.sgemmOnly = true
    case "--efficientnet-ops": options.efficientNetOps = true
    case "--conv": options.conv = args.removeFirst().split(separator: ",").compactMap { Int($0) }
    case "--winograd-parts": options.winogradParts = args.removeFirst().split(separator: ",").compactMap { Int($0) }
    case "-h", "--help":
        print("usage: unet-bench [--threads N] [--json PATH] [--quick] [--skip-ops | --ops-only] [--profile MODEL infer|train]\n"
              + "                  [--conv N,C,O,H,W] [--winograd-parts N,C,O,H,W] [--alloc-probe] [--batch N]\n"
              + "                  [--first-layers] [--extra-cases] [--effunet-cases] [--sgemm-only] [--blas-core auto|NAME]\n"
              + "                  [--efficientnet-ops]")
        exit(0)
    default:
        FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8))
        exit(2)
    }
}
Parallel.setThreads(options.threads)

/// Best-of-`repeats` wall time of `body` in seconds, after one warm-up call.
func timeBest(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<repeats {
        let t = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
    }
    return best
}

func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

// MARK: - Whole models

struct ModelCase {
    let name: String
    let config: ModelConfig
    let batch: Int
}

let modelCases = [
    ModelCase(name: "unet-classifier-224", config: ModelConfig(architecture: .unetClassifier, inputShape: [3, 224, 224]), batch: 8),
    ModelCase(name: "unet-classifier-128", config: ModelConfig(architecture: .unetClassifier, inputShape: [1, 128, 128]), batch: 8),
    ModelCase(name: "unet-ronneberger-256", config: ModelConfig(architecture: .unet, inputShape: [1, 256, 256]), batch: 4),
]

/// Further cases for `--model-run` and `--profile` only (not in the PyTorch comparison): the configurations of the
/// real-data runs in `Examples/xray` (lung segmentation: depth 4, 12 filters, BatchNorm, 256x256, batch 8;
/// pneumonia: 16 filters and a class head at 128x128, batch 16, trained on labels only, so the decoder never runs;
/// its GFLOP/s figure counts the decoder all the same).
let extraModelCases = [
    ModelCase(name: "lungseg-12-256",
              config: ModelConfig(architecture: .unet, inputShape: [1, 256, 256], depth: 4, filters: 12, batchNorm: true),
              batch: 8),
    ModelCase(name: "pneumonia-16-128",
              config: ModelConfig(architecture: .unet, inputShape: [1, 128, 128], depth: 4, filters: 16, batchNorm: true,
                                  classificationHead: 2),
              batch: 16),
]

/// Eff-UNet b1 with the UNet++ decoder and one mask class, as smp's `UnetPlusPlus("efficientnet-b1")`: at the seed's
/// RGB 224x224 and at a 1-channel 256x256, batch 8 (`--effunet-cases`; compare_pytorch.py `--effunet` times smp).
let effUNetModelCases = [[3, 224, 224], [1, 256, 256]].map { shape in
    ModelCase(name: "effunet-b1-upp-\(shape[1])",
              config: ModelConfig(architecture: .effUNet, inputShape: shape, parameters: ["encoder": .string("efficientnet-b1")]),
              batch: 8)
}

let allModelCases = modelCases + extraModelCases + effUNetModelCases

/// Multiply-adds x 2 of each node's forward for one image (convolutions, transposed convolutions and Dense layers;
/// 0 for the rest).
func nodeFLOPs(_ model: Model, _ shape: [Int]) throws -> [Double] {
    let shapes = try model.network.shapes(for: [1] + shape)
    return model.network.nodes.enumerated().map { i, node in
        let out = shapes[i]
        switch node.layer {
        case let c as Conv2D: return 2 * Double(c.inputChannels * c.kernelH * c.kernelW) * Double(out.dropFirst().reduce(1, *))
        case let t as ConvTranspose2D:
            let inShape = node.inputs[0] == Network.input ? [1] + shape : shapes[node.inputs[0]]
            return 2 * Double(t.inputChannels * t.outputChannels * t.kernelSize * t.kernelSize) * Double(inShape[2] * inShape[3])
        case let d as Dense: return 2 * Double(d.inputFeatures * d.outputFeatures)
        default: return 0
        }
    }
}

/// Multiply-adds x 2 of the whole forward for one image.
func forwardFLOPs(_ model: Model, _ shape: [Int]) throws -> Double { try nodeFLOPs(model, shape).reduce(0, +) }

/// Runs one model case in this process and prints one JSON line (the child side of `--model-run`), or with
/// `profile` a table of where the time went.
func runModelCase(_ named: ModelCase, mode: String, profile: Bool = false) throws {
    let c = ModelCase(name: named.name, config: named.config, batch: options.batch ?? named.batch)
    let model = try Model.build(c.config)
    let x = Tensor(zeros: [c.batch] + c.config.inputShape)
    var rng = RandomGenerator(seed: 1)
    for i in 0..<x.count { x[i] = rng.nextFloat() }
    let repeats = options.quick ? 1 : 3
    let step: () throws -> Void
    if mode == "infer" {
        step = { _ = try model.forward(x, training: false) }
    } else {
        var config = TrainingConfig()
        config.batchSize = c.batch
        let trainer = Trainer(model: model, config: config)
        let batch: Batch
        if model.classHead == nil {
            let masks = Tensor(zeros: [c.batch, 1] + Array(c.config.inputShape.dropFirst()))
            for i in 0..<masks.count { masks[i] = rng.nextFloat() > 0.5 ? 1 : 0 }
            batch = Batch(images: x, masks: masks)
        } else {
            batch = Batch(images: x, labels: (0..<c.batch).map { $0 % 2 })
        }
        step = { _ = try trainer.trainStep(batch) }
    }
    let seconds = try timeBest(repeats, step)
    // One more warm step with every heap allocation in the process counted (CAllocationCounter).
    unet_allocations_reset()
    try step()
    let allocations = (unet_allocations_count(), unet_allocations_large_count(), unet_allocations_bytes())
    if profile {
        // One more step with every node timed; the difference to `seconds` is the loss, optimizer and overhead.
        let p = NetworkProfile(nodeCount: model.network.nodes.count)
        p.allocationCount = { unet_allocations_count() }
        model.network.profile = p
        let start = DispatchTime.now().uptimeNanoseconds
        try step()
        let profiled = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("best unprofiled \(mode) pass: \(fmt(seconds, 3)) s; heap allocations in a warm pass: \(allocations.0), "
              + "of which in the layers \(p.forwardAllocations.reduce(0, +)) forward, \(p.backwardAllocations.reduce(0, +)) backward")
        printProfile(model.network, p, stepSeconds: profiled, mode: mode,
                     flops: try nodeFLOPs(model, c.config.inputShape).map { $0 * Double(c.batch) })
        return
    }
    let flops = try forwardFLOPs(model, c.config.inputShape) * Double(c.batch) * (mode == "train" ? 3 : 1)
    let result: [String: Any] = [
        "name": c.name, "model": c.config.architecture.rawValue, "mode": mode, "input_shape": c.config.inputShape,
        "batch": c.batch, "images_per_second": Double(c.batch) / seconds, "peak_rss_bytes": peakRSSBytes(),
        "gflops": flops / seconds / 1e9, "seconds_per_batch": seconds,
        "allocations_per_step": allocations.0, "large_allocations_per_step": allocations.1,
        "allocated_bytes_per_step": allocations.2,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
}

if let v = options.winogradParts, v.count == 5 {
    let t = winogradStageSeconds(n: v[0], c: v[1], o: v[2], h: v[3], w: v[4])
    print("winograd stages \(v): input transform \(fmt(t.input * 1e3, 2)) ms, products \(fmt(t.products * 1e3, 2)) ms, "
          + "output transform \(fmt(t.output * 1e3, 2)) ms")
    exit(0)
}

if let v = options.conv, v.count == 5 {
    let (n, c, o, h, w) = (v[0], v[1], v[2], v[3], v[4])
    var rng = RandomGenerator(seed: 4)
    let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 3, rng: &rng)
    let x = Tensor(zeros: [n, c, h, w]), dy = Tensor(zeros: [n, o, h, w])
    for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
    for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
    let flops = 2 * Double(n * c * 9 * o * h * w)
    // At few channels also Winograd's chunked driver against its tile blocks (`winogradConvolveInBlocks`).
    let blocked = max(c, o) <= ConvolutionAlgorithms.winogradBlockedChannels
    let variants = [("im2col         ", false, true), ("winograd", true, true)]
        + (blocked ? [("winograd chunks", true, false)] : [])
    for (name, winograd, blocks) in variants {
        ConvolutionAlgorithms.winogradEnabled = winograd
        ConvolutionAlgorithms.winogradBlocksEnabled = blocks
        let tf = timeBest(5) { _ = conv.forward(x, training: false) }
        let tt = timeBest(5) { _ = conv.forward(x, training: true); _ = conv.backward(dy) }
        print(pad(winograd && blocked && blocks ? "winograd blocks" : name, 16)
              + "\(v): forward \(String(format: "%.1f", flops / tf / 1e9)) GFLOP/s, "
              + "forward+backward \(String(format: "%.1f", 3 * flops / tt / 1e9)) GFLOP/s (effective)")
    }
    exit(0)
}

/// Per-layer-kind totals and the slowest nodes of one profiled pass.
func printProfile(_ network: Network, _ p: NetworkProfile, stepSeconds: Double, mode: String, flops: [Double]) {
    var byKind: [String: (forward: Double, backward: Double, nodes: Int, allocations: (Int, Int))] = [:]
    for (i, node) in network.nodes.enumerated() {
        let e = byKind[node.layer.kind, default: (0, 0, 0, (0, 0))]
        byKind[node.layer.kind] = (e.forward + p.forwardSeconds[i], e.backward + p.backwardSeconds[i], e.nodes + 1,
                                   (e.allocations.0 + p.forwardAllocations[i], e.allocations.1 + p.backwardAllocations[i]))
    }
    let total = p.forwardSeconds.reduce(0, +) + p.backwardSeconds.reduce(0, +)
    print("profiled \(mode) pass: \(fmt(stepSeconds, 3)) s, of which \(fmt(total, 3)) s inside the network's layers")
    print(pad("layer kind", 24) + pad("nodes", 7) + pad("forward s", 12) + pad("backward s", 12) + pad("share", 8)
          + "heap allocations forward, backward")
    for (kind, e) in byKind.sorted(by: { $0.value.forward + $0.value.backward > $1.value.forward + $1.value.backward }) {
        print(pad(kind, 24) + pad(String(e.nodes), 7) + pad(fmt(e.forward, 3), 12) + pad(fmt(e.backward, 3), 12)
              + pad(fmt(100 * (e.forward + e.backward) / stepSeconds) + "%", 8) + "\(e.allocations.0), \(e.allocations.1)")
    }
    print("\nslowest nodes (GFLOP/s: the direct convolution's FLOPs over the time; backward counts two products)")
    print(pad("node", 40) + pad("forward s", 12) + pad("backward s", 12) + pad("fwd GFLOP/s", 13) + "bwd GFLOP/s")
    let order = network.nodes.indices.sorted { p.forwardSeconds[$0] + p.backwardSeconds[$0] > p.forwardSeconds[$1] + p.backwardSeconds[$1] }
    for i in order.prefix(20) {
        let rates = flops[i] > 0
            ? pad(fmt(flops[i] / p.forwardSeconds[i] / 1e9), 13)
                + (p.backwardSeconds[i] > 0 ? fmt(2 * flops[i] / p.backwardSeconds[i] / 1e9) : "")
            : ""
        print(pad(network.nodes[i].name + " (" + network.nodes[i].layer.kind + ")", 40) + pad(fmt(p.forwardSeconds[i], 3), 12)
              + pad(fmt(p.backwardSeconds[i], 3), 12) + rates)
    }
}

if let (name, mode) = options.profile {
    guard let c = allModelCases.first(where: { $0.name == name }) else {
        print("unknown model case \(name): " + allModelCases.map(\.name).joined(separator: ", "))
        exit(2)
    }
    try runModelCase(c, mode: mode, profile: true)
    exit(0)
}

if options.allocProbe {
    func probe(_ what: String, _ body: () -> Void) {
        body()
        unet_allocations_reset()
        for _ in 0..<100 { body() }
        print("\(what): \(Double(unet_allocations_count()) / 100) allocations per call")
    }
    let t = Tensor(zeros: [1 << 16])
    probe("Tensor(uninitialized: [2, 8, 64, 64])") { _ = Tensor(uninitialized: [2, 8, 64, 64]) }
    probe("Parallel.forEachChunk, 2 chunks") { Parallel.forEachChunk(1 << 16, with: t.data) { d, r in d[r.lowerBound] = 1 } }
    probe("DispatchQueue.concurrentPerform(2)") { DispatchQueue.concurrentPerform(iterations: 2) { i in t.data[i] = 1 } }
    let a = Tensor(zeros: [64 * 64]), b = Tensor(zeros: [64 * 4096]), c = Tensor(zeros: [64 * 4096])
    probe("gemm 64x4096x64 (split)") { gemm(m: 64, n: 4096, k: 64, a.data, b.data, c.data) }
    probe("Parallel.run(2) empty") { Parallel.run(2, with: ()) { _, _ in } }
    // Swift boxes the closure that withoutActuallyEscaping hands out (to check it did not escape): the one
    // allocation every parallel loop made until loops took capture-free bodies.
    func withoutEscaping(_ body: (Int) -> Void) { withoutActuallyEscaping(body) { e in e(0) } }
    probe("withoutActuallyEscaping alone") { withoutEscaping { i in t.data[i] = 1 } }
    let net = Network()
    let r1 = net.add("r1", ReLU(), Network.input)
    net.add("r2", ReLU(), r1)
    net.outputs = [1]
    let small = Tensor(zeros: [1, 4])
    probe("Network forward of two ReLUs on 4 floats") { _ = net.forward(small, training: false) }
    probe("ReLU forward 1x4") { _ = ReLU().forward(small, training: false) }
    probe("Network forward wanted [0]") { _ = net.forward(small, training: false, wanted: [0]) }
    probe("ReLU forward 2x8x64x64") { _ = ReLU().forward(Tensor(zeros: [2, 8, 64, 64]), training: false) }
    exit(0)
}

if let (name, mode) = options.child {
    guard let c = allModelCases.first(where: { $0.name == name }) else { exit(2) }
    try runModelCase(c, mode: mode)
    exit(0)
}

// MARK: - sgemm ceiling

func gemmGFLOPs(m: Int, n: Int, k: Int, repeats: Int = 3) -> Double {
    2 * Double(m * n * k) / gemmSeconds(m: m, n: n, k: k, repeats: repeats) / 1e9
}

/// Best time of the engine's `gemm` (threads split as in the layers) on one shape.
func gemmSeconds(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, repeats: Int = 3) -> Double {
    let a = Tensor(zeros: [m * k]), b = Tensor(zeros: [k * n]), c = Tensor(zeros: [m * n])
    var rng = RandomGenerator(seed: 2)
    for i in 0..<a.count { a[i] = rng.nextFloat() }
    for i in 0..<b.count { b[i] = rng.nextFloat() }
    return timeBest(repeats) { gemm(transA: transA, transB: transB, m: m, n: n, k: k, a.data, b.data, c.data) }
}

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
func fmt(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }

if options.efficientNetOps {
    print("EfficientNet layers, \(options.threads) threads (fast kernels validated against naive first)")
    _ = efficientNetOpRows(quick: options.quick, batch: options.batch ?? 8)
    exit(0)
}

if options.firstLayers {
    // The first layers' weights-only backward against sgemm on the same product, both warm (best of 7 repeats on
    // the same operands) and both cold (a 128 MiB write before each run evicts them), in one process.
    var rng = RandomGenerator(seed: 4)
    let flush = Tensor(zeros: [32 << 20])
    func cold(_ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<7 {
            flush.data.update(repeating: 1, count: flush.count)
            let t = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return best
    }
    print(pad("first layer, weights-only backward", 36) + pad("warm ms", 10) + pad("sgemm ms", 10) + pad("ratio", 8)
          + pad("cold ms", 10) + pad("sgemm ms", 10) + "ratio")
    for (c, h, n) in [(1, 128, 1), (3, 224, 1), (1, 256, 1), (1, 256, 4)] {
        let conv = Conv2D(inputChannels: c, outputChannels: 64, kernelSize: 3, rng: &rng)
        let x = Tensor(zeros: [n, c, h, h]), dy = Tensor(zeros: [n, 64, h, h])
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
        _ = conv.forward(x, training: true)
        let warm = timeBest(7) { conv.backwardParametersOnly(dy) }
        let coldLayer = cold { conv.backwardParametersOnly(dy) }
        // The reference: dW (64, 9C) = dy (64, N·H·W) · colsᵀ, one product over the whole batch.
        let (k, p) = (c * 9, n * h * h)
        let a = Tensor(zeros: [64 * p]), b = Tensor(zeros: [p * k]), out = Tensor(zeros: [64 * k])
        let warmGEMM = timeBest(7) { gemm(transB: true, m: 64, n: k, k: p, a.data, b.data, out.data) }
        let coldGEMM = cold { gemm(transB: true, m: 64, n: k, k: p, a.data, b.data, out.data) }
        print(pad("\(c)->64 @\(h)x\(h), batch \(n)", 36) + pad(fmt(warm * 1e3, 2), 10) + pad(fmt(warmGEMM * 1e3, 2), 10)
              + pad(fmt(warmGEMM / warm, 2), 8) + pad(fmt(coldLayer * 1e3, 2), 10) + pad(fmt(coldGEMM * 1e3, 2), 10)
              + fmt(coldGEMM / coldLayer, 2))
    }
    exit(0)
}

print("unet-bench: \(options.threads) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores")
print("BLAS: " + BLASCoreCheck.report.summary)
let squareN = options.quick ? 1024 : 2048
let ceiling = gemmGFLOPs(m: squareN, n: squareN, k: squareN)
print("sgemm \(squareN)x\(squareN)x\(squareN): \(fmt(ceiling)) GFLOP/s (the ceiling the ratios below use)")
if options.sgemmOnly { exit(0) }

// MARK: - Per-op throughput

struct ConvShape: Hashable { let c, o, k, h, w: Int }

/// The distinct 3x3 convolutions of the reference classifier at 224 and of Ronneberger's U-Net at 256.
func convShapes() -> [ConvShape] {
    var shapes: [ConvShape] = []
    for mc in modelCases {
        guard let model = try? Model.build(mc.config),
              let s = try? model.network.shapes(for: [1] + mc.config.inputShape) else { continue }
        for (i, node) in model.network.nodes.enumerated() {
            guard let conv = node.layer as? Conv2D, conv.kernelH == 3 else { continue }
            let out = s[i]
            let shape = ConvShape(c: conv.inputChannels, o: conv.outputChannels, k: 3, h: out[2], w: out[3])
            if !shapes.contains(shape) { shapes.append(shape) }
        }
    }
    return shapes
}

var opRows: [[String: Any]] = []
let defaultWinograd = ConvolutionAlgorithms.winogradEnabled
if !options.skipOps {
    print("\nper-op (batch 1 unless noted; fast kernels validated against naive first)")
    // The backward is compared with sgemm on the backward's own two products (dW = dy·colᵀ and dcol = Wᵀ·dy),
    // whose shapes differ from the forward's: for a first layer (K = 9) the weight gradient's (64 x 9 x P) runs at
    // a third of the forward shape's rate in OpenBLAS itself.
    print(pad("op", 42) + pad("forward", 16) + pad("backward", 16) + pad("sgemm fwd shape", 17) + pad("fwd / sgemm", 13)
          + pad("sgemm bwd shapes", 18) + "bwd / sgemm")
    var rng = RandomGenerator(seed: 3)
    let shapes = options.quick ? Array(convShapes().prefix(3)) : convShapes()
    for s in shapes {
        let conv = Conv2D(inputChannels: s.c, outputChannels: s.o, kernelSize: 3, rng: &rng)
        // Validate on a small window of the same channels and kernel against the direct convolution.
        let small = Tensor(zeros: [1, s.c, 9, 11])
        for i in 0..<small.count { small[i] = rng.uniform(-1, 1) }
        let fast = conv.forward(small, training: false)
        let g = ConvGeometry(channels: s.c, height: 9, width: 11, kernelH: 3, kernelW: 3, padding: .same)
        let naive = Tensor(zeros: fast.shape)
        conv2dNaive(small.data, g, weight: conv.weight.value.data, bias: conv.bias!.value.data, outChannels: s.o, naive.data)
        var worst: Float = 0
        for i in 0..<naive.count { worst = max(worst, abs(naive[i] - fast[i])) }
        guard worst < 1e-3 else { print("Conv2D \(s) disagrees with the naive convolution by \(worst)"); exit(1) }
        // And the Winograd kernel at the full shape against the im2col path (its oracle), forward.
        let probe = Tensor(zeros: [1, s.c, s.h, s.w])
        for i in 0..<probe.count { probe[i] = rng.uniform(-1, 1) }
        if defaultWinograd && conv.usesWinograd(probe.shape) {
            let fastY = conv.forward(probe, training: false)
            ConvolutionAlgorithms.winogradEnabled = false
            let refY = conv.forward(probe, training: false)
            ConvolutionAlgorithms.winogradEnabled = true
            var err: Float = 0, scale: Float = 0
            for i in 0..<refY.count { err = max(err, abs(fastY[i] - refY[i])); scale = max(scale, abs(refY[i])) }
            guard err <= 1e-4 * max(scale, 1) else { print("Winograd \(s) disagrees with im2col by \(err)"); exit(1) }
        }

        let x = Tensor(zeros: [1, s.c, s.h, s.w])
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let dy = Tensor(zeros: [1, s.o, s.h, s.w])
        for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
        let flops = 2 * Double(s.c * 9 * s.o * s.h * s.w)
        let gemmRepeats = options.quick ? 1 : 3
        let (p, k) = (s.h * s.w, s.c * 9)
        let peak = gemmGFLOPs(m: s.o, n: p, k: k, repeats: gemmRepeats)
        let weightGEMM = gemmSeconds(transB: true, m: s.o, n: k, k: p, repeats: gemmRepeats)
        let dataGEMM = gemmSeconds(transA: true, m: k, n: p, k: s.o, repeats: gemmRepeats)
        let backwardPeak = 2 * flops / (weightGEMM + dataGEMM) / 1e9
        // Both algorithms where Winograd applies; "effective" GFLOP/s count the direct convolution's FLOPs.
        let algorithms = conv.usesWinograd(x.shape) ? [false, true] : [false]
        for winograd in algorithms {
            ConvolutionAlgorithms.winogradEnabled = winograd
            let repeats = options.quick ? 2 : 5
            let tf = timeBest(repeats) { _ = conv.forward(x, training: false) }
            // The backward timed on its own after one training forward, so that it meets its operands in the
            // cache the way the reference sgemm meets its own (warm, best of several). Timing forward + backward
            // and subtracting the forward charged the backward with the forward's evictions: the first layer at
            // 256x256 measured 0.68 of sgemm that way and 0.95-1.0 on its own, warm or with both caches flushed.
            _ = conv.forward(x, training: true)
            let tb = timeBest(repeats) { _ = conv.backward(dy) }
            let name = "Conv2D 3x3 \(s.c)->\(s.o) @\(s.h)x\(s.w) " + (winograd ? "winograd" : "im2col")
            let (fwd, bwd) = (flops / tf / 1e9, 2 * flops / max(tb, 1e-9) / 1e9)
            print(pad(name, 42) + pad(fmt(fwd) + " GFLOP/s", 16) + pad(fmt(bwd) + " GFLOP/s", 16)
                  + pad(fmt(peak) + " GFLOP/s", 17) + pad(fmt(fwd / peak, 2), 13)
                  + pad(fmt(backwardPeak) + " GFLOP/s", 18) + fmt(bwd / backwardPeak, 2))
            opRows.append(["op": name, "forward_gflops": fwd, "backward_gflops": bwd, "sgemm_gflops": peak,
                           "sgemm_backward_gflops": backwardPeak])
            guard s.c <= 3 else { continue }
            // A network's first layer: training never asks for its input gradient (`backwardParametersOnly`),
            // so its backward is the weight gradient's one product. Timed that way too, counting one product.
            let tw = timeBest(repeats) { conv.backwardParametersOnly(dy) }
            let (wOnly, weightPeak) = (flops / max(tw, 1e-9) / 1e9, flops / weightGEMM / 1e9)
            print(pad("  the same, weights-only backward", 42) + pad("", 16) + pad(fmt(wOnly) + " GFLOP/s", 16)
                  + pad("", 17) + pad("", 13) + pad(fmt(weightPeak) + " GFLOP/s", 18) + fmt(wOnly / weightPeak, 2))
            opRows.append(["op": name + " (weights-only backward)", "backward_gflops": wOnly,
                           "sgemm_backward_gflops": weightPeak])
        }
        ConvolutionAlgorithms.winogradEnabled = defaultWinograd
    }
    // Memory-bound ops on the classifier's largest activation: (1, 64, 224, 224).
    let act = Tensor(zeros: [1, 64, 224, 224])
    for i in 0..<act.count { act[i] = rng.uniform(-1, 1) }
    let bytes = Double(act.count * 4)
    let memOps: [(String, Layer, Double)] = [
        ("ReLU 64@224", ReLU(), 2), ("MaxPool2D 64@224", MaxPool2D(), 1.25), ("UpSampling2D nearest 64@112", UpSampling2D(), 1.25),
        ("BatchNorm 64@224", BatchNorm(channels: 64), 3),
    ]
    for (name, layer, traffic) in memOps {
        let input = name.contains("@112") ? Tensor(zeros: [1, 64, 112, 112]) : act
        let t = timeBest(3) { _ = layer.forward([input], training: true) }
        let y = layer.forward([input], training: true)
        let tb = timeBest(3) { _ = layer.backward(y) }
        let gbF = traffic * bytes / t / 1e9, gbB = traffic * bytes / tb / 1e9
        print(pad(name, 42) + pad(fmt(gbF) + " GB/s", 16) + pad(fmt(gbB) + " GB/s", 16))
        opRows.append(["op": name, "forward_gbps": gbF, "backward_gbps": gbB])
    }
    opRows += efficientNetOpRows(quick: options.quick)
}

// MARK: - Whole models, each in a child process

if options.opsOnly { exit(0) }

print("\nwhole models")
print(pad("model", 24) + pad("mode", 7) + pad("input", 14) + pad("batch", 7) + pad("images/s", 11) + pad("GFLOP/s", 10)
      + pad("of sgemm", 10) + pad("peak RSS", 11) + "allocations per warm step (>= 64 KiB; bytes)")
var results: [[String: Any]] = []
let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
for c in modelCases + (options.extraCases ? extraModelCases : []) + (options.effUNetCases ? effUNetModelCases : []) {
    for mode in ["infer", "train"] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: me)
        p.arguments = ["--model-run", c.name, mode, "--threads", String(options.threads)] + (options.quick ? ["--quick"] : [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let line = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
              let r = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            print("\(c.name) \(mode): the child run failed"); continue
        }
        results.append(r)
        let ips = r["images_per_second"] as! Double, gf = r["gflops"] as! Double, rss = r["peak_rss_bytes"] as! Int
        let allocs = "\(r["allocations_per_step"] as! Int) (\(r["large_allocations_per_step"] as! Int); "
            + "\((r["allocated_bytes_per_step"] as! Int) / 1024) KiB)"
        let shape = c.config.inputShape.map(String.init).joined(separator: "x")
        print(pad(c.name, 24) + pad(mode, 7) + pad(shape, 14) + pad(String(c.batch), 7) + pad(fmt(ips, 2), 11)
              + pad(fmt(gf), 10) + pad(fmt(gf / ceiling, 2), 10) + pad("\(rss / (1 << 20)) MiB", 11) + allocs)
    }
}

if let path = options.json {
    var uts = utsname()
    uname(&uts)
    let machineName = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
    let doc: [String: Any] = [
        "machine": ["cpu": cpu, "arch": machineName, "cores": ProcessInfo.processInfo.activeProcessorCount,
                    "threads": options.threads, "sgemm_gflops": ceiling,
                    "blas": BLASCoreCheck.report.summary, "blas_core": BLASCoreCheck.report.core],
        "ops": opRows, "results": results,
    ]
    try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    print("\nwrote \(path)")
}

