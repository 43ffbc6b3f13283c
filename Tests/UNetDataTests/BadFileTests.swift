import XCTest

@testable import UNetData

/// Every kind of bad file gives an `ImageError` naming the file and the reason; nothing crashes.
final class BadFileTests: XCTestCase {
    private func reason(_ name: String, probe: Bool = false) -> ImageError.Reason? {
        let path = Fixtures.path(name)
        do {
            if probe { _ = try ImageDecoder.probe(path: path) } else { _ = try ImageDecoder.decode(path: path) }
            XCTFail("\(name) decoded")
            return nil
        } catch let error as ImageError {
            XCTAssertEqual(error.path, path)
            XCTAssertTrue(error.description.hasPrefix(path + ": "), error.description)
            return error.reason
        } catch {
            XCTFail("\(name): unexpected error \(error)")
            return nil
        }
    }

    func testEmptyAndNonImage() {
        for probe in [false, true] {
            XCTAssertEqual(reason("empty.jpg", probe: probe), .empty)
            XCTAssertEqual(reason("notimage.png", probe: probe), .notAnImage)
        }
        XCTAssertThrowsError(try ImageDecoder.decode([UInt8]())) { error in
            XCTAssertEqual((error as? ImageError)?.reason, .empty)
        }
    }

    func testTruncated() {
        for name in ["truncated.jpg", "truncated.png"] {
            let r = reason(name)
            guard case .truncated = r else {
                return XCTFail("\(name) not reported as truncated: \(String(describing: r))")
            }
            guard case .truncated = reason(name, probe: true) else { return XCTFail("\(name): probe missed it") }
        }
    }

    func testCorrupt() {
        guard case .corrupt = reason("corrupt.png") else { return XCTFail("corrupt.png") }
        switch reason("corrupt.jpg") {
        case .corrupt, .truncated: break
        default: XCTFail("corrupt.jpg")
        }
    }

    func testZeroSizedAndEnormous() {
        for probe in [false, true] {
            XCTAssertEqual(reason("zero.png", probe: probe), .zeroSized)
            XCTAssertEqual(reason("huge.png", probe: probe), .tooLarge(width: 60000, height: 60000))
            XCTAssertEqual(reason("huge.jpg", probe: probe), .tooLarge(width: 60000, height: 60000))
        }
        switch reason("zero.jpg") {
        case .zeroSized, .corrupt: break  // libjpeg itself refuses a zero height in the frame header
        default: XCTFail("zero.jpg")
        }
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try ImageDecoder.decode(path: Fixtures.path("no-such-file.png"))) { error in
            guard case .unreadable = (error as? ImageError)?.reason else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try ImageDecoder.decode(path: Fixtures.directory)) { error in
            guard case .unreadable = (error as? ImageError)?.reason else { return XCTFail("\(error)") }
        }
    }

    func testGoodFilesProbe() throws {
        let info = try ImageDecoder.probe(path: Fixtures.path("rgb.jpg"))
        XCTAssertEqual(info, ImageInfo(format: .jpeg, width: 33, height: 21, channels: 3))
        XCTAssertEqual(try ImageDecoder.probe(path: Fixtures.path("grey16.png")).format, .png)
    }
}
