import UNetCore
import UNetProtocol

/// One line of the per-op table in `--json`: a kernel's throughput beside the sgemm ceiling or memory bandwidth.
/// Compute-bound ops give GFLOP/s, memory-bound ones GB/s; a field that does not apply is left out.
struct OpRow {
    let op: String
    var forwardGFLOPs: Double?
    var backwardGFLOPs: Double?
    var sgemmGFLOPs: Double?
    var sgemmBackwardGFLOPs: Double?
    var forwardGBps: Double?
    var backwardGBps: Double?
    /// The same figure by CPU time (STREAM's rows), which on a shared machine counts no other tenant's time.
    var forwardGBpsCPU: Double?
    /// Shares of the memory bandwidth (STREAM), by wall clock and by CPU time.
    var forwardOfStream: Double?
    var forwardOfStreamCPU: Double?
    var backwardOfStream: Double?
    var backwardOfStreamCPU: Double?

    init(op: String) { self.op = op }

    var json: JSONValue {
        let fields: [(String, Double?)] = [
            ("forward_gflops", forwardGFLOPs), ("backward_gflops", backwardGFLOPs), ("sgemm_gflops", sgemmGFLOPs),
            ("sgemm_backward_gflops", sgemmBackwardGFLOPs), ("forward_gbps", forwardGBps),
            ("backward_gbps", backwardGBps), ("forward_gbps_cpu", forwardGBpsCPU),
            ("forward_of_stream", forwardOfStream), ("forward_of_stream_cpu", forwardOfStreamCPU),
            ("backward_of_stream", backwardOfStream), ("backward_of_stream_cpu", backwardOfStreamCPU),
        ]
        return .object(JSONObject([("op", .string(op))] + fields.compactMap { k, v in v.map { (k, JSONValue($0)) } }))
    }
}

/// One whole-model case in one mode, measured in its own process: the line `--model-run` prints and the parent
/// reads back, and an entry of `results` in `--json` (Examples/benchmarks/compare_pytorch.py reads these names).
struct ModelRunRow {
    let name: String
    let model: String
    let mode: String
    let inputShape: [Int]
    let batch: Int
    let imagesPerSecond: Double
    let peakRSSBytes: Int
    let gflops: Double
    let secondsPerBatch: Double
    /// Heap allocations of one warm step (CAllocationCounter), those of at least 64 KiB, and their bytes.
    let allocationsPerStep: Int
    let largeAllocationsPerStep: Int
    let allocatedBytesPerStep: Int
    /// Where the memory went (`MemoryBreakdown.parts`), printed as `memory`; empty when not measured.
    var memory: [(name: String, bytes: Int)] = []

    var json: JSONValue {
        var row: JSONObject = [
            "name": .string(name), "model": .string(model), "mode": .string(mode), "input_shape": JSONValue(inputShape),
            "batch": JSONValue(batch), "images_per_second": JSONValue(imagesPerSecond),
            "peak_rss_bytes": JSONValue(peakRSSBytes), "gflops": JSONValue(gflops),
            "seconds_per_batch": JSONValue(secondsPerBatch), "allocations_per_step": JSONValue(allocationsPerStep),
            "large_allocations_per_step": JSONValue(largeAllocationsPerStep),
            "allocated_bytes_per_step": JSONValue(allocatedBytesPerStep),
        ]
        if !memory.isEmpty { row["memory"] = .object(JSONObject(memory.map { ($0.name, JSONValue($0.bytes)) })) }
        return .object(row)
    }

    /// The row a child printed; nil if `json` is not one.
    init?(json: JSONValue) {
        guard let name = json["name"]?.stringValue, let model = json["model"]?.stringValue,
            let mode = json["mode"]?.stringValue,
            let shape = json["input_shape"]?.arrayValue?.compactMap({ $0.intValue.map(Int.init) }),
            let batch = json["batch"]?.intValue, let ips = json["images_per_second"]?.doubleValue,
            let rss = json["peak_rss_bytes"]?.intValue, let gflops = json["gflops"]?.doubleValue,
            let seconds = json["seconds_per_batch"]?.doubleValue,
            let allocations = json["allocations_per_step"]?.intValue,
            let large = json["large_allocations_per_step"]?.intValue,
            let bytes = json["allocated_bytes_per_step"]?.intValue
        else { return nil }
        self.init(
            name: name, model: model, mode: mode, inputShape: shape, batch: Int(batch), imagesPerSecond: ips,
            peakRSSBytes: Int(rss), gflops: gflops, secondsPerBatch: seconds,
            allocationsPerStep: Int(allocations), largeAllocationsPerStep: Int(large),
            allocatedBytesPerStep: Int(bytes))
    }

    init(
        name: String, model: String, mode: String, inputShape: [Int], batch: Int, imagesPerSecond: Double,
        peakRSSBytes: Int, gflops: Double, secondsPerBatch: Double, allocationsPerStep: Int,
        largeAllocationsPerStep: Int, allocatedBytesPerStep: Int
    ) {
        (self.name, self.model, self.mode, self.inputShape, self.batch) = (name, model, mode, inputShape, batch)
        (self.imagesPerSecond, self.peakRSSBytes, self.gflops, self.secondsPerBatch) =
            (imagesPerSecond, peakRSSBytes, gflops, secondsPerBatch)
        (self.allocationsPerStep, self.largeAllocationsPerStep, self.allocatedBytesPerStep) =
            (allocationsPerStep, largeAllocationsPerStep, allocatedBytesPerStep)
    }
}

/// The machine a `--json` document was measured on.
struct MachineRow {
    let cpu: String
    let arch: String
    let cores: Int
    let threads: Int
    let sgemmGFLOPs: Double
    let blas: String
    let blasCore: String
    var simd = SIMDLevel.report

    var json: JSONValue {
        [
            "cpu": .string(cpu), "arch": .string(arch), "cores": JSONValue(cores), "threads": JSONValue(threads),
            "sgemm_gflops": JSONValue(sgemmGFLOPs), "blas": .string(blas), "blas_core": .string(blasCore),
            "simd": .string(simd.level.description), "simd_best": .string(simd.best.description),
            "simd_forced_by": simd.forcedBy.map(JSONValue.string) ?? .null,
        ]
    }
}
