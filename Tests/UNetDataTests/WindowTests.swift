import XCTest

@testable import UNetData

/// The windowing of deep samples onto 0...255 (the end-to-end checks against numpy and pydicom are in
/// Tests/python/test_deep_images.py and test_dicom.py).
final class WindowTests: XCTestCase {
    private func windowed(_ values: [Float], _ window: Window) -> [Float] {
        var image = Image(channels: 1, height: 1, width: values.count, pixels: values)
        window.apply(to: &image)
        return image.pixels
    }

    func testTextForms() {
        XCTAssertEqual(Window(text: "minmax"), .minMax)
        XCTAssertEqual(Window(text: "p1-p99"), .percentiles(low: 1, high: 99))
        XCTAssertEqual(Window(text: "p0.5-p99.5"), .percentiles(low: 0.5, high: 99.5))
        for bad in ["p99-p1", "p1-p101", "1-99", "p1", "p1-p2-p3", "", "max"] { XCTAssertNil(Window(text: bad), bad) }
    }

    func testDefaultFullScaleFollowsDeclaredOrUsedBits() {
        XCTAssertEqual(Window.fullScale(bits: 12, largest: 100), .fullScale(maximum: 4095))
        XCTAssertEqual(Window.fullScale(bits: nil, largest: 4095), .fullScale(maximum: 4095))
        XCTAssertEqual(Window.fullScale(bits: nil, largest: 4096), .fullScale(maximum: 16383))
        XCTAssertEqual(Window.fullScale(bits: nil, largest: 60000), .fullScale(maximum: 65535))
        XCTAssertEqual(windowed([0, 257, 65535], .fullScale(maximum: 65535)), [0, 1, 255])
        XCTAssertEqual(windowed([0, 17, 255], .fullScale(maximum: 255)), [0, 17, 255])
    }

    func testLinearVOIAsDICOMDefinesIt() {
        // c = 100, w = 11: 0 at or below 94.5, 255 above 104.5, linear between.
        let out = windowed([94, 94.5, 99.5, 104.5, 105], .centerWidth(center: 100, width: 11))
        XCTAssertEqual(out[0], 0)
        XCTAssertEqual(out[1], 0)
        XCTAssertEqual(out[2], 127.5, accuracy: 1e-4)
        XCTAssertEqual(out[3], 255, accuracy: 1e-4)
        XCTAssertEqual(out[4], 255)
    }

    func testPercentilesAndMinMax() {
        let values = (0...100).map(Float.init)
        XCTAssertEqual(windowed(values, .minMax)[50], 127.5, accuracy: 1e-4)
        let p = windowed(values, .percentiles(low: 10, high: 90))
        XCTAssertEqual(p[10], 0)
        XCTAssertEqual(p[50], 127.5, accuracy: 1e-4)
        XCTAssertEqual(p[90], 255, accuracy: 1e-4)
        XCTAssertEqual(windowed([7, 7, 7], .minMax), [0, 0, 0])  // a constant image has no range
    }
}
