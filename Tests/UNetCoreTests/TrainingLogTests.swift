import Foundation
import XCTest

@testable import UNetCore

/// The CSVLogger's rows as Keras writes them, and the TensorBoard event files read back by a small TFRecord/proto
/// reader that checks both CRCs, so the format is checked where TensorBoard is not installed.
final class TrainingLogTests: XCTestCase {
    func testCRC32CKnownVectors() {
        // RFC 3720 (iSCSI) B.4 and the usual check value.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum(Array(UInt8(0)...UInt8(31))), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum([]), 0)
    }

    private func folder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    private let epochs = [
        EpochRecord(
            epoch: 0, metrics: ["loss": 0.5, "val_loss": 0.75, "dice": 0.1, "val_dice": 1e-05],
            learningRate: 1e-4, seconds: 1),
        EpochRecord(epoch: 1, metrics: ["loss": 0.25, "val_loss": 0.625, "dice": 2], learningRate: 1e-5, seconds: 1),
    ]

    func testCSVLoggerWritesKerasColumnsAndAppends() throws {
        let path = try folder() + "/sub/log.csv"
        do {
            let logger = try CSVLogger(path: path)
            try logger.epochEnded(epochs[0])
            // Written through after every epoch, not at the end.
            XCTAssertEqual(
                try String(contentsOfFile: path, encoding: .utf8),
                "epoch,dice,learning_rate,loss,val_dice,val_loss\r\n0,0.1,0.0001,0.5,1e-05,0.75\r\n")
            try logger.epochEnded(epochs[1])
        }
        let appended = try CSVLogger(path: path, separator: ";", append: true)
        try appended.epochEnded(epochs[0])
        XCTAssertEqual(
            try String(contentsOfFile: path, encoding: .utf8),
            """
            epoch,dice,learning_rate,loss,val_dice,val_loss\r
            0,0.1,0.0001,0.5,1e-05,0.75\r
            1,2.0,1e-05,0.25,NA,0.625\r
            0;0.1;0.0001;0.5;1e-05;0.75\r

            """)
        // Without append the file starts over.
        try CSVLogger(path: path).epochEnded(epochs[1])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\r\n").count, 2)
        let directory = try folder()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssertThrowsError(try CSVLogger(path: directory), "a directory is no log file")
    }

    func testTensorBoardEventFilesReadBack() throws {
        let dir = try folder()
        let writer = try TensorBoardWriter(logDirectory: dir)
        for e in epochs { try writer.epochEnded(e) }
        let train = try EventReader.events(in: dir + "/train"),
            validation = try EventReader.events(in: dir + "/validation")
        XCTAssertEqual(train.first?.fileVersion, "brain.Event:2")
        XCTAssertEqual(validation.first?.fileVersion, "brain.Event:2")
        XCTAssertEqual(train.dropFirst().map(\.step), [0, 1])
        XCTAssertEqual(train[1].scalars, ["epoch_dice": 0.1, "epoch_learning_rate": 1e-4, "epoch_loss": 0.5])
        XCTAssertEqual(train[2].scalars, ["epoch_dice": 2, "epoch_learning_rate": 1e-5, "epoch_loss": 0.25])
        XCTAssertEqual(
            validation.dropFirst().map(\.scalars), [["epoch_dice": 1e-5, "epoch_loss": 0.75], ["epoch_loss": 0.625]])
        XCTAssertGreaterThan(train[1].wallTime, 1.7e9)

        // A flipped byte is caught by the data CRC.
        let file = try FileManager.default.contentsOfDirectory(atPath: dir + "/train")[0]
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/train/" + file)))
        bytes[bytes.count - 6] ^= 1
        XCTAssertThrowsError(try EventReader.records(bytes))
    }
}

/// Reads TFRecord files of `Event` protos: only the fields the engine writes.
enum EventReader {
    struct Event {
        var wallTime = 0.0, step: Int64 = 0, fileVersion: String?
        var scalars: [String: Float] = [:]
    }
    struct Corrupt: Error { var reason: String }

    static func events(in folder: String) throws -> [Event] {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
            $0.hasPrefix("events.out.tfevents.")
        }
        guard files.count == 1 else { throw Corrupt(reason: "\(files.count) event files in \(folder)") }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: folder + "/" + files[0])))
        return try records(bytes).map(event)
    }

    static func records(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var out: [[UInt8]] = [], at = 0
        func u32(_ i: Int) -> UInt32 { bytes[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        while at < bytes.count {
            guard at + 12 <= bytes.count else { throw Corrupt(reason: "truncated header") }
            let length = Int(bytes[at..<at + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            guard u32(at + 8) == CRC32C.masked(bytes[at..<at + 8]) else { throw Corrupt(reason: "length CRC") }
            guard at + 16 + length <= bytes.count else { throw Corrupt(reason: "truncated data") }
            let data = Array(bytes[at + 12..<at + 12 + length])
            guard u32(at + 12 + length) == CRC32C.masked(data) else { throw Corrupt(reason: "data CRC") }
            out.append(data)
            at += 16 + length
        }
        return out
    }

    /// (field, wire type, varint or fixed value as bits, or bytes) of each field in a message.
    static func fields(_ b: [UInt8]) throws -> [(Int, Int, UInt64, [UInt8])] {
        var out: [(Int, Int, UInt64, [UInt8])] = [], i = 0
        func varint() throws -> UInt64 {
            var x: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < b.count else { throw Corrupt(reason: "truncated varint") }
                x |= UInt64(b[i] & 0x7F) << shift; shift += 7; i += 1
                if b[i - 1] & 0x80 == 0 { return x }
            }
        }
        while i < b.count {
            let key = try varint(), field = Int(key >> 3), wire = Int(key & 7)
            switch wire {
            case 0: out.append((field, wire, try varint(), []))
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard i + n <= b.count else { throw Corrupt(reason: "truncated fixed") }
                out.append((field, wire, b[i..<i + n].reversed().reduce(0) { $0 << 8 | UInt64($1) }, [])); i += n
            case 2:
                let n = Int(try varint())
                guard i + n <= b.count else { throw Corrupt(reason: "truncated bytes") }
                out.append((field, wire, 0, Array(b[i..<i + n]))); i += n
            default: throw Corrupt(reason: "wire type \(wire)")
            }
        }
        return out
    }

    static func event(_ data: [UInt8]) throws -> Event {
        var e = Event()
        for (field, _, bits, bytes) in try fields(data) {
            switch field {
            case 1: e.wallTime = Double(bitPattern: bits)
            case 2: e.step = Int64(bitPattern: bits)
            case 3: e.fileVersion = String(decoding: bytes, as: UTF8.self)
            case 5:
                for (_, _, _, value) in try fields(bytes) {
                    var tag = "", simple: Float = .nan
                    for (f, _, b, s) in try fields(value) {
                        if f == 1 {
                            tag = String(decoding: s, as: UTF8.self)
                        } else if f == 2 {
                            simple = Float(bitPattern: UInt32(b))
                        }
                    }
                    e.scalars[tag] = simple
                }
            default: break
            }
        }
        return e
    }
}
