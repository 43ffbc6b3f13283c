import Foundation

/// Writes protocol messages, one JSON object per line, each with a single `write` of the whole line under one
/// lock, so that results from the worker, immediate answers from the reader and progress notifications never
/// interleave. Nothing is buffered: when `send` returns, the line has been handed to the kernel.
public final class ResponseWriter: @unchecked Sendable {
    private let lock = NSLock()
    private let output: ([UInt8]) -> Void
    public private(set) var messagesWritten = 0

    /// Writes to a file descriptor (the private duplicate of the real stdout).
    public convenience init(fd: Int32) {
        var broken = false
        self.init { bytes in
            guard !broken else { return }
            bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        // The host closed our stdout: keep working (to finish and exit cleanly) but stop writing.
                        Log.warning("writing to stdout failed: \(String(cString: strerror(errno))); output is dropped")
                        broken = true
                        return
                    }
                    offset += n
                }
            }
        }
    }

    /// Hands each complete line (with its `\n`) to `output`; used by in-process tests.
    public init(output: @escaping ([UInt8]) -> Void) {
        self.output = output
    }

    public func send(_ message: JSONValue) {
        var line = JSONCodec.encode(message)
        line.append(UInt8(ascii: "\n"))
        lock.lock(); defer { lock.unlock() }
        output(line)
        messagesWritten += 1
    }

    public func sendResult(id: JSONValue, _ result: JSONValue) {
        send(["jsonrpc": "2.0", "id": id, "result": result])
    }

    public func sendError(id: JSONValue, _ error: RPCError) {
        send(["jsonrpc": "2.0", "id": id, "error": error.json])
    }

    public func sendNotification(method: String, params: JSONValue) {
        send(["jsonrpc": "2.0", "method": .string(method), "params": params])
    }
}
