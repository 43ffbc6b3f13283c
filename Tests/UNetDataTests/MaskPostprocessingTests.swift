import UNetCore
import XCTest

/// Connected components, hole filling, opening and the whole chain against scipy.ndimage
/// (Tests/fixtures/make_shift_fixtures.py). The code is UNetCore's; its fixtures live with the other shift ones.
final class MaskPostprocessingTests: XCTestCase {
    private let fixtures = ShiftFixtures.shared.components

    func testLabelsAreScipys() {
        for (n, c) in fixtures.enumerated() {
            let mask = c.mask.map { $0 != 0 }
            let four = ConnectedComponents(mask, height: c.shape[0], width: c.shape[1], connectivity: .four)
            XCTAssertEqual(four.sizes, c.sizes_4, "case \(n)")
            XCTAssertEqual(four.labels.map(Int.init), c.labels_4, "case \(n)")
            let eight = ConnectedComponents(mask, height: c.shape[0], width: c.shape[1], connectivity: .eight)
            XCTAssertEqual(eight.sizes, c.sizes_8, "case \(n)")
            XCTAssertEqual(eight.labels.map(Int.init), c.labels_8, "case \(n)")
            XCTAssertLessThan(eight.sizes.count, four.sizes.count, "case \(n): the diagonal touch joins")
        }
    }

    func testFillHolesAndOpeningAreScipys() {
        for (n, c) in fixtures.enumerated() {
            let mask = c.mask.map { $0 != 0 }, (h, w) = (c.shape[0], c.shape[1])
            XCTAssertEqual(
                MaskPostprocessing.holesFilled(mask, height: h, width: w), c.filled.map { $0 != 0 }, "case \(n)")
            XCTAssertEqual(
                MaskPostprocessing.opened(mask, height: h, width: w, radius: 1), c.opened_1.map { $0 != 0 },
                "case \(n)")
        }
    }

    func testChainIsOpeningThenTwoLargestThenFillHoles() {
        var post = MaskPostprocessing()
        post.opening = 1; post.keepLargest = 2; post.fillHoles = true
        for (n, c) in fixtures.enumerated() {
            let out = post.apply(c.mask.map { $0 != 0 }, height: c.shape[0], width: c.shape[1])
            XCTAssertEqual(out, c.chain.map { $0 != 0 }, "case \(n)")
        }
        XCTAssertTrue(MaskPostprocessing().isIdentity)
    }
}
