import CMPI
import Dispatch
import Foundation
import UNetCore

/// The ranks of `mpirun -np N unet-engine --mpi`: the collectives data-parallel training needs
/// (`DataParallelGroup`), and the broadcast of each request from rank 0 to the others (`RequestReplicator`).
///
/// Open MPI is loaded with dlopen at `start()` (see `CMPI.h`), so the engine binary has no link-time dependency on
/// libmpi and runs without it unless started with `--mpi`. Every MPI call is made by one thread at a time (the
/// dispatcher's worker on rank 0, the main thread on the others): MPI_THREAD_SERIALIZED. A failed call ends the
/// whole job (MPI_Abort) rather than leave ranks waiting on each other; a rank that dies is noticed by mpirun,
/// which ends the job, so the host sees the engine exit instead of a hang.
public final class MPIGroup: DataParallelGroup, RequestReplicator {
    public let rank: Int
    public let size: Int
    /// Seconds this rank has spent in MPI_Allreduce, MPI_Iallreduce, MPI_Test and MPI_Wait (gradients, BatchNorm
    /// statistics, agreements): the time a step waits for the other ranks, for the benchmarks.
    public private(set) var allreduceSeconds = 0.0
    /// The requests of the started gradient sums (`startSum`), kept from step to step: MPI_Request handles.
    private var requests = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 64)
    private var requestCapacity = 64
    private var requestCount = 0
    /// Requests before this one are known to be complete.
    private var firstPending = 0

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Loads Open MPI and joins the job (MPI_Init_thread).
    public static func start() throws -> MPIGroup {
        var error = [CChar](repeating: 0, count: 512)
        guard unet_mpi_load(&error, Int32(error.count)) == 0 else {
            throw StartError(description: String(cString: error))
        }
        var rank: Int32 = 0, size: Int32 = 0
        guard unet_mpi_init(&rank, &size) == 0 else {
            throw StartError(description: "MPI_Init_thread failed (MPI_THREAD_SERIALIZED is needed)")
        }
        let environment = ProcessInfo.processInfo.environment
        if let text = environment["UNET_MPI_BUCKET_MB"] {
            guard let mb = Double(text), mb > 0, mb <= 4096 else {
                throw StartError(description: "UNET_MPI_BUCKET_MB must be a number of MiB in (0, 4096], got \(text)")
            }
            DataParallel.bucketFloats = max(1, Int(mb * 1024 * 1024 / 4))
        }
        if let text = environment["UNET_MPI_OVERLAP"] {
            guard text == "0" || text == "1" else {
                throw StartError(description: "UNET_MPI_OVERLAP must be 0 or 1, got \(text)")
            }
            DataParallel.overlapsAllreduce = text == "1"
        }
        return MPIGroup(rank: Int(rank), size: Int(size))
    }

    /// MPI_Finalize, once every request is done.
    public func finish() { _ = unet_mpi_finalize() }

    private func check(_ code: Int32, _ what: String) {
        guard code != 0 else { return }
        Log.error("rank \(rank): \(what) failed with MPI error \(code); ending the job")
        unet_mpi_abort(70)
    }

    // MARK: DataParallelGroup

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        check(unet_mpi_allreduce_sum_float(base, Int32(buffer.count)), "MPI_Allreduce")
        allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        check(unet_mpi_allreduce_sum_double(base, Int32(buffer.count)), "MPI_Allreduce")
        allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// Each rank in turn broadcasts its length and bytes: `size` pairs of MPI_Bcast, for the rare gathers
    /// (an evaluation's per-image scores, an error's message) where one MPI_Allgatherv would save little.
    public func allgather(_ bytes: [UInt8]) -> [[UInt8]] {
        (0..<size).map { root in
            var length = Int64(root == rank ? bytes.count : 0)
            check(unet_mpi_broadcast_int64(&length, Int32(root)), "MPI_Bcast")
            var buffer = root == rank ? bytes : [UInt8](repeating: 0, count: Int(length))
            if length > 0 {
                buffer.withUnsafeMutableBytes {
                    check(unet_mpi_broadcast_bytes($0.baseAddress, Int32($0.count), Int32(root)), "MPI_Bcast")
                }
            }
            return buffer
        }
    }

    public func startSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        if requestCount == requestCapacity {
            let larger = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 2 * requestCapacity)
            larger.moveInitialize(from: requests, count: requestCount)
            requests.deallocate()
            (requests, requestCapacity) = (larger, 2 * requestCapacity)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        check(unet_mpi_iallreduce_sum_float(base, Int32(buffer.count), requests + requestCount), "MPI_Iallreduce")
        requestCount += 1
        allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// Tests the oldest pending sum (which also moves the others on), and the next while they are done.
    public func progressSums() {
        let started = DispatchTime.now().uptimeNanoseconds
        var done: Int32 = 1
        while firstPending < requestCount && done != 0 {
            check(unet_mpi_test(requests + firstPending, &done), "MPI_Test")
            if done != 0 { firstPending += 1 }
        }
        allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    public func finishSums() {
        let started = DispatchTime.now().uptimeNanoseconds
        for i in firstPending..<requestCount { check(unet_mpi_wait(requests + i), "MPI_Wait") }
        (requestCount, firstPending) = (0, 0)
        allreduceSeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        check(unet_mpi_broadcast_bytes(base, Int32(buffer.count * MemoryLayout<Float>.size), Int32(root)), "MPI_Bcast")
    }

    // MARK: Requests from rank 0

    public func share(_ request: Request) {
        var bytes = JSONCodec.encode(request.message)
        var length = Int64(bytes.count)
        check(unet_mpi_broadcast_int64(&length, 0), "MPI_Bcast")
        bytes.withUnsafeMutableBytes {
            check(unet_mpi_broadcast_bytes($0.baseAddress, Int32($0.count), 0), "MPI_Bcast")
        }
    }

    public func shareEnd() {
        var length: Int64 = -1
        check(unet_mpi_broadcast_int64(&length, 0), "MPI_Bcast")
    }

    /// On a rank other than 0: the next request rank 0 shared, or nil at the end.
    public func receive() -> Request? {
        var length: Int64 = 0
        check(unet_mpi_broadcast_int64(&length, 0), "MPI_Bcast")
        guard length >= 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBytes {
            check(unet_mpi_broadcast_bytes($0.baseAddress, Int32($0.count), 0), "MPI_Bcast")
        }
        guard let value = try? JSONCodec.decode(bytes), case .success(let request) = Request.parse(value) else {
            Log.error("rank \(rank): rank 0 shared a request that does not parse; ending the job")
            unet_mpi_abort(70)
            return nil
        }
        return request
    }
}
