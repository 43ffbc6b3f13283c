import Foundation

/// Keras' TensorBoard callback, written by the engine itself: `log_dir/train` gets each epoch's training values
/// (`loss` as tag `epoch_loss`, ..., `epoch_learning_rate`) and `log_dir/validation` the `val_` ones under the
/// same tags (`val_loss` as `epoch_loss`), so TensorBoard overlays the two runs as it does for a Keras fit; the
/// step is the 0-based epoch.
///
/// Each folder holds one `events.out.tfevents.<seconds>.<host>.<pid>.v2` file of TFRecords (see `EventFile`):
/// first an `Event` with `file_version` "brain.Event:2", then one `Event` per epoch whose `Summary` holds a
/// `simple_value` per metric. Records are written through at each epoch, so TensorBoard shows a run as it goes.
public final class TensorBoardWriter: EpochLogger {
    public let logDirectory: String
    private let train: EventFile
    private let validation: EventFile

    public init(logDirectory: String) throws {
        self.logDirectory = logDirectory
        train = try EventFile(folder: (logDirectory as NSString).appendingPathComponent("train"))
        validation = try EventFile(folder: (logDirectory as NSString).appendingPathComponent("validation"))
    }

    public func epochEnded(_ record: EpochRecord) throws {
        var trainValues: [(String, Float)] = [], validationValues: [(String, Float)] = []
        for (name, value) in record.logs.sorted(by: { $0.key < $1.key }) {
            if name.hasPrefix("val_") {
                validationValues.append(("epoch_" + name.dropFirst(4), Float(value)))
            } else {
                trainValues.append(("epoch_" + name, Float(value)))
            }
        }
        let now = Date().timeIntervalSince1970
        try train.write(TensorBoardEvent.scalars(trainValues, step: Int64(record.epoch), wallTime: now))
        if !validationValues.isEmpty {
            try validation.write(TensorBoardEvent.scalars(validationValues, step: Int64(record.epoch), wallTime: now))
        }
    }
}

/// One TensorFlow event file: TFRecord framing around serialized `Event` protos. A record is the data's length
/// (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data.
final class EventFile {
    let path: String
    private let handle: FileHandle

    init(folder: String) throws {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let name = "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid()).v2"
        path = (folder as NSString).appendingPathComponent(name)
        handle = try openLogFile(path, append: false)
        try write(TensorBoardEvent.fileVersion(wallTime: Date().timeIntervalSince1970))
    }

    deinit { try? handle.close() }

    func write(_ event: [UInt8]) throws {
        try handle.writeLog(Data(Self.record(event)), path: path)
    }

    /// The TFRecord framing of `data`.
    static func record(_ data: [UInt8]) -> [UInt8] {
        var length = UInt64(data.count).littleEndian
        let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
        var crc = CRC32C.masked(lengthBytes).littleEndian
        var dataCRC = CRC32C.masked(data).littleEndian
        return lengthBytes + withUnsafeBytes(of: &crc) { Array($0) } + data
            + withUnsafeBytes(of: &dataCRC) { Array($0) }
    }
}

/// The few fields of TensorFlow's `Event` and `Summary` protos that scalar logs need, encoded by hand:
/// Event {1: double wall_time, 2: int64 step, 3: string file_version, 5: Summary summary},
/// Summary {1: repeated Value value}, Summary.Value {1: string tag, 2: float simple_value}.
enum TensorBoardEvent {
    static func fileVersion(wallTime: Double) -> [UInt8] {
        header(wallTime: wallTime, step: 0) + lengthDelimited(field: 3, Array("brain.Event:2".utf8))
    }

    static func scalars(_ values: [(tag: String, value: Float)], step: Int64, wallTime: Double) -> [UInt8] {
        let summary = values.flatMap { tag, value -> [UInt8] in
            let v =
                lengthDelimited(field: 1, Array(tag.utf8)) + key(field: 2, wireType: 5) + littleEndian(value.bitPattern)
            return lengthDelimited(field: 1, v)
        }
        return header(wallTime: wallTime, step: step) + lengthDelimited(field: 5, summary)
    }

    private static func header(wallTime: Double, step: Int64) -> [UInt8] {
        key(field: 1, wireType: 1) + littleEndian(wallTime.bitPattern) + key(field: 2, wireType: 0)
            + varint(UInt64(bitPattern: step))
    }

    private static func key(field: Int, wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }

    private static func lengthDelimited(field: Int, _ bytes: [UInt8]) -> [UInt8] {
        key(field: field, wireType: 2) + varint(UInt64(bytes.count)) + bytes
    }

    static func varint(_ x: UInt64) -> [UInt8] {
        var x = x, out: [UInt8] = []
        repeat {
            let low = UInt8(x & 0x7F)
            x >>= 7
            out.append(x == 0 ? low : low | 0x80)
        } while x != 0
        return out
    }

    private static func littleEndian<T: FixedWidthInteger>(_ x: T) -> [UInt8] {
        withUnsafeBytes(of: x.littleEndian) { Array($0) }
    }
}
