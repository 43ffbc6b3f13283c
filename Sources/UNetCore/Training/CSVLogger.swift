import Foundation

/// Keras' CSVLogger: one row per epoch, `epoch` (0-based) then every logged value (metrics, `val_` metrics,
/// `learning_rate`) in Python's `sorted` order of their names, the columns fixed by the first epoch ("NA" where
/// a later epoch lacks one). Rows end in "\r\n" and values are written as Python's `repr` of a float, as Keras'
/// `csv.writer` does, at History's precision: pandas and existing scripts read the engine's file as they read
/// Keras', and its numbers are History's. With `append`, rows go after an existing file's and the
/// header is written only when the file is empty. (Keras 3 also adds `val_` columns, all "NA", to a run
/// without validation; the engine does not.)
public final class CSVLogger: EpochLogger {
    public let path: String
    public let separator: String
    private let handle: FileHandle
    private var columns: [String]?
    private var writeHeader: Bool

    public init(path: String, separator: String = ",", append: Bool = false) throws {
        self.path = path
        self.separator = separator
        let existing = append ? (FileManager.default.contents(atPath: path) ?? Data()) : Data()
        writeHeader = existing.isEmpty
        handle = try openLogFile(path, append: append)
    }

    deinit { try? handle.close() }

    public func epochEnded(_ record: EpochRecord) throws {
        let logs = record.logs
        let columns = self.columns ?? logs.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var text = ""
        if self.columns == nil {
            self.columns = columns
            if writeHeader { text += row(["epoch"] + columns) }
        }
        text += row([String(record.epoch)] + columns.map { logs[$0].map(Self.pythonRepr) ?? "NA" })
        try handle.writeLog(Data(text.utf8), path: path)
    }

    /// One CSV line with Python's minimal quoting: a field holding the separator, a quote or a line break is quoted,
    /// its quotes doubled.
    private func row(_ fields: [String]) -> String {
        fields.map { field in
            let special =
                field.contains(separator) || field.contains("\"") || field.contains("\n") || field.contains("\r")
            return special ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: separator) + "\r\n"
    }

    /// A value as the protocol's History carries it (9 significant digits, enough for the float32 it was computed
    /// in), written as Python's `repr` of that double: Swift's description is the same shortest round-trip
    /// decimal ("0.1", "1e-05", "2.0", "nan", "inf") below 2^53 in magnitude. So the file equals History.
    static func pythonRepr(_ x: Double) -> String {
        guard x.isFinite, let rounded = Double(String(format: "%.9g", x)) else { return x.description }
        return rounded.description
    }
}
