import Foundation

/// A callback that records each finished epoch somewhere the host reads (Keras' CSVLogger, TensorBoard). `fit`
/// hands it every epoch right after the epoch's progress notification; the logger writes through at once, so a
/// run that is killed keeps its finished epochs on disk.
public protocol EpochLogger: AnyObject {
    func epochEnded(_ record: EpochRecord) throws
}

extension EpochRecord {
    /// What Keras puts in an epoch's `logs`: every metric (`val_` ones included) and the learning rate, as the
    /// decimal History reports (1e-4, not 9.99999974e-05).
    public var logs: [String: Double] {
        var logs = metrics
        logs["learning_rate"] = Double("\(learningRate)") ?? Double(learningRate)
        return logs
    }
}

/// A log file that could not be created or written, with the reason the system gave.
public struct LogFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}

/// Opens `path` for writing (creating its folder, as Keras' loggers do), appending or truncating.
func openLogFile(_ path: String, append: Bool) throws -> FileHandle {
    let fm = FileManager.default
    let folder = PathNames.parent(of: path)  // NSString.deletingLastPathComponent traps on "A"
    if !folder.isEmpty {
        do {
            try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw LogFileError(path: path, reason: "cannot create the folder \(folder): \(error.localizedDescription)")
        }
    }
    var isFolder: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        throw LogFileError(path: path, reason: "is a directory")
    }
    if !append || !fm.fileExists(atPath: path) {
        guard fm.createFile(atPath: path, contents: nil) else {
            throw LogFileError(path: path, reason: "the file cannot be created")
        }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
        throw LogFileError(path: path, reason: "the file cannot be opened for writing")
    }
    if append { handle.seekToEndOfFile() }
    return handle
}

extension FileHandle {
    /// Writes all of `data`, turning a failed write (disk full, file gone) into a `LogFileError`.
    func writeLog(_ data: Data, path: String) throws {
        do { try write(contentsOf: data) } catch { throw LogFileError(path: path, reason: "\(error)") }
    }
}
