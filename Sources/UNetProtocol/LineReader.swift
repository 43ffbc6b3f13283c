import Foundation

/// Splits a byte stream (stdin) into protocol lines, never holding more than one line's limit in memory.
///
/// A line ends at `\n`; a `\r` before it is dropped, so `\r\n` hosts work. A line longer than `maximumLineBytes`
/// is not buffered: its bytes are counted and discarded up to its newline, and `next()` reports it as
/// `.oversize` so the dispatcher can answer an error and carry on with the next line. At end of input a last
/// line without a newline is still delivered.
public final class LineReader {
    public enum Event: Equatable {
        case line([UInt8])
        /// A line that exceeded the limit; the payload is its length in bytes (without the newline).
        case oversize(Int)
        case end
    }

    public let maximumLineBytes: Int
    private let fd: Int32
    private let chunkSize: Int
    private var buffer: [UInt8] = []
    /// Start of the unconsumed bytes in `buffer`; consumed bytes are compacted away lazily.
    private var start = 0
    /// Where the newline search resumes, so a long line is scanned once, not once per chunk.
    private var scanned = 0
    /// Bytes of an oversize line dropped so far, while waiting for its newline.
    private var discarding: Int?
    private var atEnd = false
    private var chunk: [UInt8]

    /// - Parameters:
    ///   - fd: the descriptor to read (0 for stdin); it is not closed.
    ///   - maximumLineBytes: longest accepted line, excluding its newline.
    public init(fd: Int32, maximumLineBytes: Int, chunkSize: Int = 1 << 20) {
        self.fd = fd
        self.maximumLineBytes = maximumLineBytes
        self.chunkSize = chunkSize
        chunk = [UInt8](repeating: 0, count: chunkSize)
    }

    /// Blocks until the next line, oversize line or end of input.
    public func next() -> Event {
        while true {
            if let event = takeBufferedEvent() { return event }
            if atEnd {
                // A final line without a newline still counts; an oversize one was already reported.
                if let dropped = discarding {
                    discarding = nil
                    return .oversize(dropped)
                }
                if start < buffer.count {
                    let line = Array(buffer[start...])
                    buffer.removeAll()
                    start = 0
                    scanned = 0
                    return .line(trimCR(line))
                }
                return .end
            }
            fill()
        }
    }

    /// A complete line (or the end of an oversize one) already in the buffer, if any.
    private func takeBufferedEvent() -> Event? {
        if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
            let lineStart = start
            start = nl + 1
            scanned = start
            if let dropped = discarding {
                discarding = nil
                return .oversize(dropped + (nl - lineStart))
            }
            let length = nl - lineStart
            // The limit applies to the line without its terminator (`\r\n` counts as the terminator).
            let contentLength = length > 0 && buffer[nl - 1] == UInt8(ascii: "\r") ? length - 1 : length
            if contentLength > maximumLineBytes { return .oversize(contentLength) }
            return .line(trimCR(Array(buffer[lineStart..<nl])))
        }
        scanned = buffer.count
        let pending = buffer.count - start
        // Allow one extra byte for a `\r` that may belong to the terminator.
        if pending > maximumLineBytes + 1 {
            discarding = (discarding ?? 0) + pending
            buffer.removeAll(keepingCapacity: false)
            start = 0
            scanned = 0
        }
        return nil
    }

    private func trimCR(_ line: [UInt8]) -> [UInt8] {
        line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : line
    }

    private func fill() {
        if start > 0 && (start == buffer.count || start > buffer.count / 2) {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        let n = chunk.withUnsafeMutableBytes { raw -> Int in
            while true {
                let r = read(fd, raw.baseAddress, chunkSize)
                if r < 0 && errno == EINTR { continue }
                return r
            }
        }
        if n <= 0 {
            if n < 0 {
                Log.warning("reading input failed: \(String(cString: strerror(errno))); treating as end of input")
            }
            atEnd = true
            return
        }
        buffer.append(contentsOf: chunk[0..<n])
    }
}
