import Foundation
import XCTest

@testable import UNetCore

/// `ComputeThread`: while one thread computes inside `run`, numeric work on any other thread is refused (the
/// precondition in `check` stops the process, so these tests read `isComputingElsewhere`, what it tests), the
/// computing thread itself and the pool threads that run its chunks pass, and the claim ends with `run`.
final class ComputeThreadTests: XCTestCase {
    /// `isComputingElsewhere` as a new thread sees it.
    private func seenFromAnotherThread() -> Bool {
        /// Written by the other thread before it signals, read after the wait.
        final class Seen: @unchecked Sendable { var value = false }
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        Thread {
            seen.value = ComputeThread.isComputingElsewhere
            done.signal()
        }.start()
        done.wait()
        return seen.value
    }

    func testAnotherThreadIsRefusedOnlyWhileOneComputes() {
        XCTAssertFalse(seenFromAnotherThread(), "no thread computes: any may")
        ComputeThread.run {
            XCTAssertFalse(ComputeThread.isComputingElsewhere, "the computing thread itself")
            XCTAssertTrue(seenFromAnotherThread(), "a second thread while the first computes")
            ComputeThread.run { XCTAssertTrue(seenFromAnotherThread(), "nested run keeps the claim") }
            XCTAssertTrue(seenFromAnotherThread(), "the nested run's end leaves the outer claim")
        }
        XCTAssertFalse(seenFromAnotherThread(), "the claim ends with run")
    }

    func testAClaimEndsWhenItsBodyThrows() {
        struct Failure: Error {}
        XCTAssertThrowsError(try ComputeThread.run { throw Failure() })
        XCTAssertFalse(seenFromAnotherThread())
    }

    /// The pool threads compute the owner's chunks: a parallel loop's body on them passes the check.
    func testPoolThreadsPassWhileTheirOwnerComputes() {
        let before = Parallel.threads
        Parallel.setThreads(2)
        defer { Parallel.setThreads(before) }
        let flags = UnsafeMutablePointer<Bool>.allocate(capacity: 2)
        defer { flags.deallocate() }
        flags.initialize(repeating: true, count: 2)
        ComputeThread.run {
            Parallel.run(2, with: flags) { f, chunk in f[chunk] = ComputeThread.isComputingElsewhere }
        }
        XCTAssertEqual([flags[0], flags[1]], [false, false])
    }
}
