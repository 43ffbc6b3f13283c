/// `evaluate` (and `fit`'s validation) across the ranks of a `DataParallelGroup`: each rank scores its share of
/// the batches, then every rank gathers every batch's contribution and sums them in batch order, as one process
/// would. Gathering the per-image contributions, instead of reducing per-rank sums, is what makes the metrics
/// equal to the single-process ones to the last digit: a float sum depends on its order, and ROC AUC, PR AUC and
/// Youden's threshold need every score anyway. It costs a few numbers per image, once per evaluation.
extension DataParallel {
    /// Scores batches 0..<batchCount, batch b on rank b mod size, in rounds of one batch per rank. After each
    /// round the ranks agree (one small allreduce) on whether any was cancelled or failed, so that all stop after
    /// the same round: a `cancel` (seen by rank 0 alone) takes effect within one batch, and a batch that fails on
    /// one rank fails the evaluation on every rank instead of leaving the others waiting.
    static func scoreAcrossRanks(
        batchCount: Int, group: DataParallelGroup, isCancelled: () -> Bool,
        score: (Int) throws -> EvaluationBatch
    ) throws -> [EvaluationBatch] {
        var mine = ByteWriter()
        let rounds = (batchCount + group.size - 1) / group.size
        for round in 0..<rounds {
            let b = round * group.size + group.rank
            var failure: Error?
            if b < batchCount {
                do {
                    let scored = try score(b)
                    mine.append(b)
                    scored.encode(into: &mine)
                } catch { failure = error }
            }
            var flags: [Double] = [isCancelled() ? 1 : 0, failure == nil ? 0 : 1]
            flags.withUnsafeMutableBufferPointer { group.allreduceSum($0) }
            if flags[1] > 0 { throw agreedFailure(failure, group: group) }
            if flags[0] > 0 { throw TrainingError.cancelled }
        }
        var batches = [EvaluationBatch?](repeating: nil, count: batchCount)
        for bytes in group.allgather(mine.bytes) {
            var reader = ByteReader(bytes)
            while !reader.atEnd {
                let b = try reader.int()
                guard b >= 0 && b < batchCount && batches[b] == nil else { throw reader.corrupt }
                batches[b] = try EvaluationBatch(from: &reader)
            }
        }
        return try batches.map { b in
            guard let b else { throw DataParallelError.rankFailed(rank: -1, message: "a batch was scored by no rank") }
            return b
        }
    }

    /// The error every rank throws when a round failed somewhere: a rank's own error when it has one (so rank 0,
    /// the one the host hears, keeps its error's kind), otherwise the first failed rank's message.
    private static func agreedFailure(_ failure: Error?, group: DataParallelGroup) -> Error {
        var message = ByteWriter()
        if let failure { message.append(String(describing: failure)) }
        let messages = group.allgather(message.bytes)
        if let failure { return failure }
        for (rank, bytes) in messages.enumerated() where !bytes.isEmpty {
            var reader = ByteReader(bytes)
            return DataParallelError.rankFailed(rank: rank, message: (try? reader.string()) ?? "unreadable error")
        }
        return DataParallelError.rankFailed(rank: -1, message: "a rank failed without saying why")
    }
}

/// A request that failed on another rank of a data-parallel job.
public enum DataParallelError: Error, CustomStringConvertible, Equatable {
    case rankFailed(rank: Int, message: String)

    public var description: String {
        switch self {
        case .rankFailed(let rank, let message): return rank >= 0 ? "rank \(rank): \(message)" : message
        }
    }
}

extension EvaluationBatch {
    func encode(into w: inout ByteWriter) {
        w.append(lossTimesCount)
        w.append(count)
        w.append(classColumns)
        w.append(rows.count)
        for row in rows {
            w.append(row.id)
            w.append(row.label)
            w.append(row.probabilities.count)
            for p in row.probabilities { w.append(p) }
        }
        w.append(pixelCounts.count)
        for c in pixelCounts {
            for n in [c.truePositives, c.falsePositives, c.falseNegatives, c.trueNegatives] { w.append(n) }
        }
    }

    init(from r: inout ByteReader) throws {
        self.init(lossTimesCount: try r.double(), count: try r.int())
        classColumns = try r.int()
        for _ in 0..<(try r.count()) {
            let id = try r.string(), label = try r.int()
            let probabilities = try (0..<(try r.count())).map { _ in try r.float() }
            rows.append(Evaluation.ClassRow(id: id, label: label, probabilities: probabilities))
        }
        for _ in 0..<(try r.count()) {
            var c = PixelCounts()
            c.truePositives = try r.int(); c.falsePositives = try r.int()
            c.falseNegatives = try r.int(); c.trueNegatives = try r.int()
            pixelCounts.append(c)
        }
    }
}

/// Little-endian bytes of integers, floats (their exact bit patterns) and length-prefixed UTF-8 strings: what the
/// ranks send each other. Both ends are the same binary, so no versioning.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append(_ v: Int) { append(bits: UInt64(bitPattern: Int64(v)), width: 8) }
    mutating func append(_ v: Double) { append(bits: v.bitPattern, width: 8) }
    mutating func append(_ v: Float) { append(bits: UInt64(v.bitPattern), width: 4) }
    mutating func append(_ s: String) {
        let utf8 = Array(s.utf8)
        append(utf8.count)
        bytes += utf8
    }

    private mutating func append(bits: UInt64, width: Int) {
        for k in 0..<width { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
    }
}

struct ByteReader {
    private let bytes: [UInt8]
    private var at = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { at == bytes.count }
    var corrupt: DataParallelError { .rankFailed(rank: -1, message: "a rank sent an unreadable evaluation") }

    mutating func int() throws -> Int { Int(Int64(bitPattern: try bits(width: 8))) }
    /// A count of items that follow: not negative, and not more than the bytes left.
    mutating func count() throws -> Int {
        let n = try int()
        guard n >= 0 && n <= bytes.count - at else { throw corrupt }
        return n
    }
    mutating func double() throws -> Double { Double(bitPattern: try bits(width: 8)) }
    mutating func float() throws -> Float { Float(bitPattern: UInt32(try bits(width: 4))) }
    mutating func string() throws -> String {
        let n = try count()
        defer { at += n }
        return String(decoding: bytes[at..<(at + n)], as: UTF8.self)
    }

    private mutating func bits(width: Int) throws -> UInt64 {
        guard bytes.count - at >= width else { throw corrupt }
        var v: UInt64 = 0
        for k in 0..<width { v |= UInt64(bytes[at + k]) << (8 * UInt64(k)) }
        at += width
        return v
    }
}
