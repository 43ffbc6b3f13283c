import Foundation
import XCTest

@testable import UNetProtocol

final class LineReaderTests: XCTestCase {
    /// Writes `input` into a pipe (from another thread, so large inputs do not block) and reads every event.
    private func events(_ input: [UInt8], limit: Int, chunk: Int = 7) -> [LineReader.Event] {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let (readFD, writeFD) = (fds[0], fds[1])
        let writer = Thread {
            input.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = write(writeFD, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            close(writeFD)
        }
        writer.start()
        let reader = LineReader(fd: readFD, maximumLineBytes: limit, chunkSize: chunk)
        var out: [LineReader.Event] = []
        while true {
            let e = reader.next()
            out.append(e)
            if e == .end { break }
        }
        close(readFD)
        return out
    }

    private func line(_ s: String) -> LineReader.Event { .line(Array(s.utf8)) }

    func testSplitsLinesAcrossChunksAndAcceptsCRLF() {
        let e = events(Array("first line\r\nsecond\n\nthird is long enough to span chunks\n".utf8), limit: 100)
        XCTAssertEqual(
            e, [line("first line"), line("second"), line(""), line("third is long enough to span chunks"), .end])
    }

    func testFinalLineWithoutNewlineIsDelivered() {
        XCTAssertEqual(events(Array("a\nbc".utf8), limit: 10), [line("a"), line("bc"), .end])
    }

    func testOversizeLineIsDiscardedAndReadingContinues() {
        let long = String(repeating: "x", count: 50)
        let e = events(Array("ok\n\(long)\nafter\n".utf8), limit: 20)
        XCTAssertEqual(e, [line("ok"), .oversize(50), line("after"), .end])
    }

    func testLineExactlyAtTheLimitIsAccepted() {
        let exact = String(repeating: "y", count: 20)
        XCTAssertEqual(events(Array("\(exact)\r\n\(exact)y\n".utf8), limit: 20), [line(exact), .oversize(21), .end])
    }

    func testOversizeLineAtEndOfInput() {
        XCTAssertEqual(
            events(Array(String(repeating: "z", count: 64).utf8), limit: 10, chunk: 16), [.oversize(64), .end])
    }

    func testLargeInputWithManyLines() {
        let lines = (0..<2000).map { "{\"n\":\($0)}" }
        let e = events(Array((lines.joined(separator: "\n") + "\n").utf8), limit: 64, chunk: 4096)
        XCTAssertEqual(e.count, 2001)
        XCTAssertEqual(e[1999], line("{\"n\":1999}"))
    }
}
