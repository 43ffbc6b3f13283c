import Foundation

/// Leveled logging to stderr. stdout belongs to the protocol, so nothing here ever writes there.
public enum Log {
    public enum Level: Int, Comparable, CaseIterable, Sendable {
        case error, warning, info, debug
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var name: String { ["error", "warning", "info", "debug"][rawValue] }
        public init?(name: String) {
            guard let l = Level.allCases.first(where: { $0.name == name || (name == "warn" && $0 == .warning) }) else {
                return nil
            }
            self = l
        }
    }

    nonisolated(unsafe) public static var level: Level = .warning
    private static let lock = NSLock()

    public static func error(_ message: @autoclosure () -> String) { write(.error, message) }
    public static func warning(_ message: @autoclosure () -> String) { write(.warning, message) }
    public static func info(_ message: @autoclosure () -> String) { write(.info, message) }
    public static func debug(_ message: @autoclosure () -> String) { write(.debug, message) }

    private static func write(_ l: Level, _ message: () -> String) {
        guard l <= level else { return }
        let line = Array("unet-engine [\(l.name)] \(message())\n".utf8)
        lock.lock(); defer { lock.unlock() }
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
