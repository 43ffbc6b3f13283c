import CAllocationCounter
import XCTest

@testable import UNetCore

/// Heap allocations, counted by wrapping malloc (CAllocationCounter): warm work must make none.
final class AllocationTests: XCTestCase {
    /// Allocations made by `repeats` calls of `body`, after one warm-up call: the fewest of `trials` such counts.
    ///
    /// The counter wraps malloc for the whole process, so a window also counts what another thread allocates at
    /// that moment (once, in CI, one allocation of unknown origin landed in one window: not reproduced in 25 runs
    /// under load). A per-call allocation, which is what these tests look for, shows up in every trial at least
    /// `repeats` times; a stray one-off cannot be in all of them.
    func allocations(_ repeats: Int = 20, warmUps: Int = 1, trials: Int = 3, _ body: () throws -> Void) rethrows
        -> Int
    {
        for _ in 0..<warmUps { try body() }
        var fewest = Int.max
        for _ in 0..<trials {
            unet_allocations_reset()
            for _ in 0..<repeats { try body() }
            fewest = min(fewest, unet_allocations_count())
        }
        return fewest
    }

    /// Every loop shape on two threads, each with a body that captures nothing, hands its work to the worker
    /// threads without a heap allocation. (A capturing closure needed a box per loop: about a thousand per
    /// training step.)
    func testParallelLoopsOnTwoThreadsAllocateNothing() {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        let count = 1 << 16
        let x = Tensor(zeros: [6 * count])
        let base = x.data
        XCTAssertEqual(Parallel.chunkCount(count, cost: 1), 2, "the loops below must really go to two threads")
        XCTAssertEqual(
            allocations {
                Parallel.forEachChunk(count, with: base) { b, r in for i in r { b[i] += 1 } }
            }, 0, "forEachChunk")
        XCTAssertEqual(
            allocations {
                Parallel.forEach(count, with: (base + count, 2 as Float)) { s, i in s.0[i] += s.1 }
            }, 0, "forEach")
        XCTAssertEqual(
            allocations {
                Parallel.forEachChunkIndexed(count, with: base + 2 * count) { b, c, r in for i in r { b[i] += Float(c) }
                }
            }, 0, "forEachChunkIndexed")
        XCTAssertEqual(allocations { Parallel.run(2, with: base + 3 * count) { b, c in b[c] += 1 } }, 0, "run")
        XCTAssertEqual(
            allocations { independentProducts(36, with: base + 4 * count) { b, i in b[i] += 1 } }, 0,
            "independentProducts")
        XCTAssertEqual(
            allocations {
                Workspace.shared.forEachChunk(count, cost: 1, scratch: Float.self, capacity: 8, with: base + 5 * count)
                {
                    b, scratch, r in
                    scratch[0] = 1
                    for i in r { b[i] += scratch[0] }
                }
            }, 0, "Workspace.forEachChunk")
        let a = Tensor(zeros: [64 * 64]), b = Tensor(zeros: [64 * 4096]), c = Tensor(zeros: [64 * 4096])
        XCTAssertEqual(allocations { gemm(m: 64, n: 4096, k: 64, a.data, b.data, c.data) }, 0, "split gemm")
        XCTAssertEqual(x[0], 61, "the loops ran: 1 warm-up and 3 trials of 20")
    }

    /// The small untransposed products of Winograd's tile blocks at <= 32 channels (k >= 32, 1-8 columns over a
    /// multiple of 16): OpenBLAS 0.3.21's AVX-512 small kernels malloc on every such call (SkylakeX, Cooperlake),
    /// which `gemm` avoids (`SmallKernelAllocation`). On other cores the products allocate nothing anyway.
    func testSmallUntransposedProductsAllocateNothing() {
        let a = Tensor(zeros: [32 * 64]), b = Tensor(zeros: [64 * 56]), c = Tensor(zeros: [32 * 56])
        for (m, n, k) in [(16, 40, 32), (32, 56, 64), (16, 8, 32)] {
            XCTAssertEqual(
                allocations { gemm(m: m, n: n, k: k, a.data, b.data, c.data) }, 0,
                "gemm \(m)x\(n)x\(k), core \(BLASCore.current)")
        }
    }

    /// The counter itself: it sees an allocation made on purpose, so the zeros above mean something.
    func testTheCounterSeesAnAllocation() {
        XCTAssertGreaterThanOrEqual(allocations(5) { _ = Tensor(zeros: [4]) }, 5)
    }

    /// Whole warm steps on two threads allocate nothing: a U-Net with BatchNorm and a classification head (Winograd,
    /// im2col, transposed convolutions, concatenation, global pooling, Dense, BCE+Dice and BCE, Adam), the
    /// reference classifier (upsampling, Flatten), and two eff-unets (b0 UNet++ with the seed's mask-pooling head,
    /// and with deep supervision, whose inference averages four mask heads); training steps and inference forwards.
    func testWarmStepsAllocateNothing() throws {
        #if DEBUG
        throw XCTSkip("allocation counts mean something in an optimized build: `make test` runs this with -c release")
        #else
        try checkWarmStepsAllocateNothing()
        #endif
    }

    func checkWarmStepsAllocateNothing() throws {
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        let configs = [
            ModelConfig(
                architecture: .unet, inputShape: [1, 64, 64], seed: 3, depth: 2, filters: 8, batchNorm: true,
                classificationHead: 2),
            ModelConfig(architecture: .unetClassifier, inputShape: [1, 32, 32], seed: 3),
            // eff-unet: the seed's head on the mask logits, and UNet++ deep supervision (drop-path on).
            ModelConfig(
                architecture: .effUNet, inputShape: [1, 64, 64], seed: 3,
                parameters: [
                    "encoder": .string("efficientnet-b0"), "decoder_channels": .integers([16, 8, 8, 8, 4]),
                    "classes": .integer(2),
                    "classification_head": .object(["classes": .integer(2), "from": .string("mask")]),
                ]),
            ModelConfig(
                architecture: .effUNet, inputShape: [1, 64, 64], seed: 3,
                parameters: [
                    "encoder": .string("efficientnet-b0"), "decoder_channels": .integers([16, 8, 8, 8, 4]),
                    "deep_supervision": .boolean(true),
                ]),
        ]
        for modelConfig in configs {
            let model = try Model.build(modelConfig)
            var config = TrainingConfig()
            config.batchSize = 2
            let trainer = Trainer(model: model, config: config)
            let batch = try DiscSource(count: 2, size: modelConfig.inputShape[1], seed: 4)
                .batch(indices: [0, 1], epoch: 0, augment: false)
            let name = modelConfig.architecture.rawValue
            var lastLoss: Float = 0
            XCTAssertEqual(
                try allocationsThrowing(3) { lastLoss = try trainer.trainStep(batch).loss }, 0,
                "\(name): heap allocations in warm training steps")
            XCTAssertTrue(lastLoss.isFinite)
            XCTAssertEqual(
                try allocationsThrowing(3) { _ = try model.forward(batch.images, training: false) }, 0,
                "\(name): heap allocations in warm inference forwards")
        }
    }

    /// A stand-in for two ranks that hold the same gradients (a sum doubles), allocation-free itself.
    final class MirroredRanks: DataParallelGroup {
        let rank = 0, size = 2
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { for i in buffer.indices { buffer[i] *= 2 } }
        func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { for i in buffer.indices { buffer[i] *= 2 } }
        func allgather(_ bytes: [UInt8]) -> [[UInt8]] { [bytes, bytes] }
        func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {}
    }

    /// A data-parallel step's own work allocates nothing when warm either: the bucket plan, the staging buffer and
    /// the agreement are kept, and the backward tells the averager each finished node (overlapped sums, in
    /// buckets small enough that there are dozens). What MPI allocates inside its calls is not counted here.
    func testWarmDataParallelStepsAllocateNothing() throws {
        #if DEBUG
        throw XCTSkip("allocation counts mean something in an optimized build: `make test` runs this with -c release")
        #else
        let (threads, bucket) = (Parallel.threads, DataParallel.bucketFloats)
        defer { Parallel.setThreads(threads); DataParallel.bucketFloats = bucket; DataParallel.group = nil }
        Parallel.setThreads(2)
        DataParallel.bucketFloats = 2000
        DataParallel.group = MirroredRanks()
        for overlap in [true, false] {
            DataParallel.overlapsAllreduce = overlap
            let model = try Model.build(
                ModelConfig(
                    architecture: .unet, inputShape: [1, 32, 32], seed: 3, depth: 2,
                    filters: 8, batchNorm: true))
            var config = TrainingConfig()
            config.batchSize = 2
            let trainer = Trainer(model: model, config: config)
            let batch = try DiscSource(count: 2, size: 32, seed: 4).batch(indices: [0, 1], epoch: 0, augment: false)
            var lastLoss: Float = 0
            XCTAssertEqual(
                try allocationsThrowing(3) { lastLoss = try trainer.trainStep(batch).loss }, 0,
                "heap allocations in warm data-parallel steps, overlap \(overlap)")
            XCTAssertTrue(lastLoss.isFinite)
        }
        DataParallel.overlapsAllreduce = true
        #endif
    }

    /// Warm training steps and inference forwards through every layer of issue 14 allocate nothing either: an MBConv
    /// block (expand, SiLU, depthwise, squeeze-and-excitation gating, project, DropPath, residual Add), a stride-2
    /// depthwise with padding by side, upsampling back onto the block's size, and global max pooling.
    func testEfficientNetLayersWarmStepsAllocateNothing() throws {
        #if DEBUG
        throw XCTSkip("allocation counts mean something in an optimized build: `make test` runs this with -c release")
        #else
        let before = Parallel.threads
        defer { Parallel.setThreads(before) }
        Parallel.setThreads(2)
        var rng = RandomGenerator(seed: 9)
        let net = Network()
        func conv1x1(_ c: Int, _ o: Int, bias: Bool = false) -> Conv2D {
            Conv2D(inputChannels: c, outputChannels: o, kernelSize: 1, useBias: bias, rng: &rng)
        }
        var x = net.add("expand", conv1x1(8, 32), Network.input)
        x = net.add("bn0", BatchNorm(channels: 32), x)
        x = net.add("act0", SiLU(), x)
        x = net.add("dw", DepthwiseConv2D(channels: 32, kernelSize: 5, useBias: false, rng: &rng), x)
        let dw = net.add("act1", SiLU(), x)
        var s = net.add("squeeze", GlobalAveragePooling2D(keepDims: true), dw)
        s = net.add("reduce", conv1x1(32, 4, bias: true), s)
        s = net.add("act2", SiLU(), s)
        s = net.add("expand_se", conv1x1(4, 32, bias: true), s)
        s = net.add("gate_act", Sigmoid(), s)
        x = net.add("gate", ChannelGate(), dw, s)
        x = net.add("project", conv1x1(32, 8), x)
        x = net.add("drop", DropPath(rate: 0.3, seed: 1), x)
        let block = net.add("add", Add(), Network.input, x)
        let down = net.add(
            "down",
            DepthwiseConv2D(
                channels: 8, kernelSize: 3, stride: 2,
                padding: .sides(top: 0, bottom: 1, left: 0, right: 1), rng: &rng), block)
        let up = net.add("up", UpSampleToMatch(), down, block)
        let pooled = net.add("pool", GlobalMaxPooling2D(), up)
        net.outputs = [up, pooled]
        let input = Tensor(zeros: [4, 8, 32, 32])
        for i in 0..<input.count { input[i] = rng.uniform(-1, 1) }
        // Optional already: passing [Tensor] where [Tensor?] is taken converts it, an array per call.
        let gradients: [Tensor?] = [
            Tensor(shape: [4, 8, 32, 32], repeating: 0.01), Tensor(shape: [4, 8], repeating: 1),
        ]
        // As `Model` runs it: the outputs into an array kept from step to step.
        let wanted = [0, 1]
        var outputs: [Tensor?] = []
        func step() {
            net.zeroGradients()
            net.forward(input, training: true, wanted: wanted, into: &outputs)
            net.backwardParameters(gradients)
        }
        XCTAssertEqual(try allocationsThrowing(3) { step() }, 0, "heap allocations in warm training steps")
        XCTAssertEqual(
            try allocationsThrowing(3) { net.forward(input, training: false, wanted: wanted, into: &outputs) },
            0, "heap allocations in warm inference forwards")
        #endif
    }

    /// `allocations` after three warm-up calls (the first steps settle where tensors go).
    func allocationsThrowing(_ repeats: Int, _ body: () throws -> Void) throws -> Int {
        try allocations(repeats, warmUps: 3, body)
    }

    /// A tensor out of use is handed out again for the next request of its shape; one still referenced is not.
    func testTheRecyclerReusesOnlyTensorsOutOfUse() {
        var a: Tensor? = TensorRecycler.tensor(3, 5)
        let first = ObjectIdentifier(a!)
        a = nil
        let b = TensorRecycler.tensor(3, 5)
        XCTAssertEqual(ObjectIdentifier(b), first, "the retired tensor came back")
        let c = TensorRecycler.tensor(3, 5)
        XCTAssertNotEqual(ObjectIdentifier(c), ObjectIdentifier(b), "b is still in use")
        let d = TensorRecycler.tensor(5, 3)
        XCTAssertEqual(d.shape, [5, 3], "another shape is another tensor")

        // A large tensor gives its storage back once out of use, and comes back at the same place.
        let floats = 4 * 64 * 64
        XCTAssertGreaterThanOrEqual(floats, TensorStorage.minimumRegionFloats)
        let live = TensorStorage.liveByteCount
        var x: Tensor? = TensorRecycler.tensor(4, 64, 64)
        var view: Tensor? = TensorRecycler.view(of: x!, 4, 64 * 64)
        XCTAssertEqual(TensorStorage.liveByteCount - live, TensorStorage.roundedBytes(floats))
        XCTAssertEqual(view!.data, x!.data)
        let large = ObjectIdentifier(x!)
        x = nil
        XCTAssertEqual(TensorStorage.liveByteCount - live, TensorStorage.roundedBytes(floats), "the view holds it")
        view = nil
        TensorRecycler.collect()
        XCTAssertEqual(TensorStorage.liveByteCount, live, "out of use: its storage is free again")
        let y = TensorRecycler.tensor(4, 64, 64)
        XCTAssertEqual(ObjectIdentifier(y), large)
        y.zero()
        XCTAssertEqual(TensorRecycler.zeros([4, 64, 64]).sum, 0)
    }

    /// Retired tensors of small storage keep it, up to a bound: requests of ever-new shapes do not pile it up.
    func testRetiredSmallStorageIsBounded() {
        for i in 0..<300 { _ = TensorRecycler.tensor(1, 16_000 + i) }  // 4.8 Mi floats in all, each small
        TensorRecycler.collect()
        let counts = TensorRecycler.retiredCounts
        XCTAssertLessThanOrEqual(counts.smallFloats, TensorRecycler.maximumRetiredSmallFloats)
        XCTAssertLessThanOrEqual(counts.tensors, TensorRecycler.maximumRetired)
        TensorRecycler.drain()
        XCTAssertEqual(TensorRecycler.retiredCounts.tensors, 0)
        XCTAssertEqual(TensorRecycler.retiredCounts.smallFloats, 0)
    }

    /// Recycling holds no tensor beyond its use: once the caller lets go of a forward's outputs, or a training step
    /// ends, every large tensor's storage is free again (`liveByteCount` sweeps the recycler first).
    func testNothingOutlivesAForwardOrAStep() throws {
        let model = try Model.build(
            ModelConfig(
                architecture: .unet, inputShape: [1, 64, 64], seed: 2, depth: 2,
                filters: 4, batchNorm: true))
        // A mask of 4 x 64 x 64 floats is just large enough to live in TensorStorage's region.
        let batch = try DiscSource(count: 4, size: 64, seed: 5).batch(indices: [0, 1, 2, 3], epoch: 0, augment: false)
        let trainer = Trainer(model: model, config: TrainingConfig())
        _ = try trainer.trainStep(batch)  // optimizer moments and workspaces exist from here on
        let live = TensorStorage.liveByteCount
        var mask: Tensor? = try model.forward(batch.images, training: false).mask
        XCTAssertEqual(mask?.count, TensorStorage.minimumRegionFloats)
        XCTAssertGreaterThan(TensorStorage.liveByteCount, live, "the mask is held by the caller")
        mask = nil
        XCTAssertEqual(TensorStorage.liveByteCount, live, "nothing else holds the forward's tensors")
        _ = try trainer.trainStep(batch)
        XCTAssertEqual(TensorStorage.liveByteCount, live, "nor a training step's")
    }
}
