import XCTest

@testable import UNetCore

/// The region allocator behind large tensors: best fit, neighbours merged on release, and a repeated pattern of
/// allocations landing where it did before (which is what keeps a warm step from touching new memory).
final class TensorStorageTests: XCTestCase {
    let page = TensorStorage.page

    func makeRegion(pages: Int = 64) throws -> Region {
        let size = pages * page
        let p = try XCTUnwrap(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        XCTAssertNotEqual(p, MAP_FAILED)
        addTeardownBlock { munmap(p, size) }
        return Region(base: p, size: size)
    }

    func testBestFitTakesTheSmallestFreeBlockThatHolds() throws {
        let r = try makeRegion()
        let a = try XCTUnwrap(r.allocate(4 * page)), b = try XCTUnwrap(r.allocate(page))
        let c = try XCTUnwrap(r.allocate(2 * page)), d = try XCTUnwrap(r.allocate(page))
        XCTAssertEqual([a, b, c, d].map { $0 - r.base }, [0, 4, 5, 7].map { $0 * page })
        r.release(a, 4 * page)
        r.release(c, 2 * page)
        // Free: [0, 4 pages), [5, 7 pages), and the tail from 8 pages. Two pages fit the second hole exactly.
        XCTAssertEqual(try XCTUnwrap(r.allocate(2 * page)) - r.base, 5 * page)
        XCTAssertEqual(try XCTUnwrap(r.allocate(3 * page)) - r.base, 0)
        XCTAssertEqual(r.highWater, 8 * page, "nothing past the last block handed out")
        XCTAssertEqual(r.usedBytes, (1 + 2 + 3 + 1) * page)
        _ = (b, d)
    }

    func testReleasedNeighboursMergeIntoOneBlock() throws {
        let r = try makeRegion(pages: 8)
        let blocks = try (0..<4).map { _ in try XCTUnwrap(r.allocate(2 * page)) }
        XCTAssertNil(r.allocate(page), "the region is full")
        // Free in an order that needs merging on both sides.
        for i in [1, 3, 2, 0] { r.release(blocks[i], 2 * page) }
        XCTAssertEqual(r.usedBytes, 0)
        XCTAssertEqual(try XCTUnwrap(r.allocate(8 * page)) - r.base, 0, "the four blocks merged back into one")
    }

    func testARepeatedPatternReusesTheSamePlacesAndGrowsNoMore() throws {
        let r = try makeRegion(pages: 256)
        let sizes = [7, 3, 12, 5, 1, 9, 4].map { $0 * page }
        func step() -> [Int] {
            var live: [(UnsafeMutableRawPointer, Int)] = []
            var offsets: [Int] = []
            for (i, s) in sizes.enumerated() {
                let p = r.allocate(s)!
                offsets.append(p - r.base)
                live.append((p, s))
                if i % 2 == 1 { let (q, n) = live.removeFirst(); r.release(q, n) }  // frees interleaved
            }
            for (q, n) in live { r.release(q, n) }
            return offsets
        }
        let first = step()
        let (growths, high) = (r.growths, r.highWater)
        XCTAssertEqual(step(), first)
        XCTAssertEqual(step(), first)
        XCTAssertEqual(r.growths, growths)
        XCTAssertEqual(r.highWater, high)
        XCTAssertEqual(r.usedBytes, 0)
    }

    func testTensorsRoundTripThroughTheStorageAndCountAsLive() {
        let before = TensorStorage.liveByteCount
        var t: Tensor? = Tensor(zeros: [3, 100, 100])  // 30,000 floats: a region tensor
        XCTAssertEqual(TensorStorage.liveByteCount - before, TensorStorage.roundedBytes(30_000))
        XCTAssertEqual(t!.data[29_999], 0)
        t!.data[29_999] = 5
        t = nil
        XCTAssertEqual(TensorStorage.liveByteCount, before)
        let u = Tensor(zeros: [3, 100, 100])
        XCTAssertEqual(u.sum, 0, "a reused block comes back zeroed by init(zeros:)")
    }

    func testTrimHandsFreePagesBackToTheKernel() throws {
        func residentBytes() throws -> Int {
            let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
            return Int(statm.split(separator: " ")[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        var t: Tensor? = Tensor(zeros: [16 << 20])  // 64 MiB, every page touched
        XCTAssertEqual(t!.data[(16 << 20) - 1], 0)
        let withTensor = try residentBytes()
        t = nil
        TensorStorage.trim()
        XCTAssertLessThan(try residentBytes(), withTensor - (48 << 20), "the freed tensor's pages left the process")
        let again = Tensor(zeros: [16 << 20])
        XCTAssertEqual(again.sum, 0, "trimmed pages come back zeroed and usable")
    }
}
