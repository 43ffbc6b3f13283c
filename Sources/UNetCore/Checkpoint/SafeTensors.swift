import Foundation
import UNetJSON

/// A safetensors file: an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
/// and byte range, then the raw little-endian data. Python reads it with `safetensors` (or 20 lines of numpy)
/// without any of our code.
///
/// Tensors are held as float32 whatever their stored dtype (F32, F64, F16, BF16, I64, I32, U8); `integerNames`
/// remembers which to write back as I64 (BatchNorm's `num_batches_tracked`, as PyTorch stores it).
public struct SafeTensors {
    public var tensors: [String: Tensor] = [:]
    public var metadata: [String: String] = [:]
    /// Names written as I64 rather than F32.
    public var integerNames: Set<String> = []

    public init() {}

    /// Largest header we accept; real headers are a few hundred kilobytes at most.
    public static let maximumHeaderBytes = 100 << 20

    // MARK: Reading

    /// Reads and validates a whole file. Every problem (truncation, bad JSON, overlapping or out-of-range
    /// offsets, an unknown dtype) is a `CheckpointError` naming the file.
    public static func read(path: String) throws -> SafeTensors {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.notFound(path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError.invalid(path, "cannot read the file")
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String = "<memory>") throws -> SafeTensors {
        func invalid(_ why: String) -> CheckpointError { .invalid(path, why) }
        guard data.count >= 8 else { throw invalid("shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
        }
        // The length is the file's first 8 bytes: never echo it (any readable file would leak 8 bytes of itself).
        guard headerLength <= UInt64(maximumHeaderBytes), Int(headerLength) <= data.count - 8 else {
            throw invalid(
                "not a safetensors file, or truncated: its 8-byte header length does not fit the file "
                    + "(\(data.count) bytes)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        let header: JSONObject
        do {
            guard
                let o = try JSONCodec.decode([UInt8](headerData), maximumDepth: JSONCodec.fileMaximumDepth).objectValue
            else { throw invalid("the header is not a JSON object") }
            header = o
        } catch let e as JSONCodec.DecodeError {
            throw invalid("the header is not a JSON object (\(e))")
        }
        let body = 8 + Int(headerLength)
        let bodyCount = data.count - body
        var result = SafeTensors()
        var ranges: [(Int, Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let meta = value.objectValue else { throw invalid("__metadata__ is not an object") }
                for (k, v) in meta {
                    guard let s = v.stringValue else { throw invalid("metadata \(k) is not a string") }
                    result.metadata[k] = s
                }
                continue
            }
            guard let entry = value.objectValue, let dtypeName = entry["dtype"]?.stringValue,
                let shapeAny = entry["shape"]?.arrayValue, let offsetsAny = entry["data_offsets"]?.arrayValue,
                offsetsAny.count == 2
            else { throw invalid("tensor \(name) has a malformed entry") }
            // Sizes come from the file: exact integers only, products checked for overflow before any comparison.
            let shape = try shapeAny.map { v -> Int in
                guard let n = exactInt(v), n >= 0, n <= 1 << 31 else { throw invalid("tensor \(name) has a bad shape") }
                return n
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = exactInt(v), n >= 0 else { throw invalid("tensor \(name) has bad offsets") }
                return n
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw invalid("tensor \(name) has unsupported dtype \(dtypeName)")
            }
            let width = dtype.byteWidth
            guard let count = CheckedSize.product(shape), count <= (1 << 34) / width, offsets[1] >= offsets[0],
                offsets[1] - offsets[0] == count * width
            else {
                throw invalid("tensor \(name): \(offsets[1] &- offsets[0]) bytes for shape \(shape) of \(dtypeName)")
            }
            guard offsets[1] <= bodyCount else {
                throw invalid("tensor \(name) ends at byte \(offsets[1]) past the data (\(bodyCount) bytes): truncated")
            }
            ranges.append((offsets[0], offsets[1]))
            let t = Tensor(zeros: shape)
            data.withUnsafeBytes { raw in
                decode(raw.baseAddress! + body + offsets[0], dtype: dtype, count: count, into: t.data)
            }
            result.tensors[name] = t
            if dtype.isInteger { result.integerNames.insert(name) }
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 { throw invalid("tensors overlap in the data") }
        return result
    }

    /// An integer of the header: a JSON integer (or a whole real, as some writers emit) that fits Int.
    static func exactInt(_ v: JSONValue) -> Int? { v.intValue.flatMap { Int(exactly: $0) } }

    /// The element types read, by their names in the header (safetensors' spelling); all are held as float32.
    enum DType: String, CaseIterable {
        case F32, F64, F16, BF16, I64, I32, U8

        var byteWidth: Int {
            switch self {
            case .F64, .I64: 8
            case .F32, .I32: 4
            case .F16, .BF16: 2
            case .U8: 1
            }
        }

        /// Integer tensors (BatchNorm's `num_batches_tracked`) are written back as I64.
        var isInteger: Bool { self == .I64 || self == .I32 || self == .U8 }
    }

    static func decode(_ p: UnsafeRawPointer, dtype: DType, count: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count {
            switch dtype {
            case .F32:
                out[i] = Float(
                    bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
            case .F64:
                out[i] = Float(
                    Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            case .F16:
                out[i] = Float(
                    Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            case .BF16:
                out[i] = Float(
                    bitPattern: UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                        << 16)
            case .I64: out[i] = Float(Int64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            case .I32: out[i] = Float(Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
            case .U8: out[i] = Float(p.load(fromByteOffset: i, as: UInt8.self))
            }
        }
    }

    // MARK: Writing

    /// The file's bytes: tensors sorted by name (as the Python library writes them), F32 or I64.
    public func serialized() throws -> Data {
        var entries = JSONObject()
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let dtype: DType = integerNames.contains(name) ? .I64 : .F32
            let bytes = t.count * dtype.byteWidth
            entries[name] = [
                "dtype": .string(dtype.rawValue), "shape": JSONValue(t.shape),
                "data_offsets": JSONValue([offset, offset + bytes]),
            ]
            offset += bytes
        }
        if !metadata.isEmpty {
            entries["__metadata__"] = .object(
                JSONObject(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        }
        var header = Data(JSONCodec.encodeForFile(.object(entries)).utf8)
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for name in names {
            let t = tensors[name]!
            if integerNames.contains(name) {
                for i in 0..<t.count {
                    withUnsafeBytes(of: Int64(t.data[i]).littleEndian) { out.append(contentsOf: $0) }
                }
            } else {
                out.append(UnsafeBufferPointer(start: t.data, count: t.count))  // x86-64 and arm64 are little-endian
            }
        }
        return out
    }

    /// Writes atomically: a temporary file beside `path`, fsync, rename over `path`, fsync the directory.
    /// A crash or a full disk leaves the previous file whole. Returns the bytes written.
    @discardableResult
    public func write(path: String) throws -> Int {
        let data = try serialized()
        try AtomicFile.write(data, to: path)
        return data.count
    }
}

/// Why a checkpoint could not be read or used.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalid(String, String)
    case mismatch(String, String)
    case io(String, String)

    public var description: String {
        switch self {
        case .notFound(let p): return "no such file: \(p)"
        case .invalid(let p, let why): return "\(p) is not a valid safetensors file: \(why)"
        case .mismatch(let p, let why): return "\(p) does not fit the model: \(why)"
        case .io(let p, let why): return "cannot write \(p): \(why)"
        }
    }
}
