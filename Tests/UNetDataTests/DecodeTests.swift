import TestSupport
import XCTest

@testable import UNetData

/// Decoded pixels against Pillow's (an independent decoder) on the committed synthetic fixtures.
final class DecodeTests: XCTestCase {
    private func assertMatchesPillow(
        _ file: String, expected: String? = nil, channels: Int? = nil,
        atLeast: (height: Int, width: Int)? = nil, tolerance: Float = 1,
        line: UInt = #line
    ) throws {
        let image = try ImageDecoder.decode(path: Fixtures.path(file), channels: channels, atLeast: atLeast)
        let (shape, pixels) = Fixtures.pillowPixels(expected ?? file)
        XCTAssertEqual([image.channels, image.height, image.width], shape, file, line: line)
        assertClose(image.pixels, pixels, atol: tolerance, rtol: 0, file, line: line)
    }

    func testJPEGMatchesPillow() throws {
        try assertMatchesPillow("grey.jpg")
        try assertMatchesPillow("rgb.jpg")
        try assertMatchesPillow("rgb444.jpg")
        try assertMatchesPillow("rgb.jpg", expected: "rgb.jpg.grey", channels: 1)
    }

    func testJPEGDCTScalingMatchesPillowDraft() throws {
        // 64x48 asked for at least 12x16: 1/4 is the smallest power-of-two factor that keeps both sides.
        try assertMatchesPillow("scaled.jpg", expected: "scaled.jpg.quarter", atLeast: (12, 16))
        let half = try ImageDecoder.decode(path: Fixtures.path("scaled.jpg"), atLeast: (13, 16))
        XCTAssertEqual([half.height, half.width], [24, 32])
        let full = try ImageDecoder.decode(path: Fixtures.path("scaled.jpg"), atLeast: (48, 64))
        XCTAssertEqual([full.height, full.width], [48, 64])
    }

    func testPNGMatchesPillow() throws {
        for name in [
            "grey.png", "grey16.png", "greyalpha.png", "rgb.png", "rgba.png", "palette.png", "bilevel.png",
            "rgb16.png",
        ] {
            // libspng and Pillow are both exact for PNG; 16-bit values are compared after the same /257.
            try assertMatchesPillow(name, tolerance: 1e-3)
        }
    }

    func testChannelConversion() throws {
        let rgb = try ImageDecoder.decode(path: Fixtures.path("rgb.png"), channels: 1)
        XCTAssertEqual(rgb.channels, 1)
        let (_, p) = Fixtures.pillowPixels("rgb.png")
        let plane = rgb.height * rgb.width
        XCTAssertEqual(rgb.pixels[0], 0.299 * p[0] + 0.587 * p[plane] + 0.114 * p[2 * plane], accuracy: 1e-3)
        let grey = try ImageDecoder.decode(path: Fixtures.path("grey.png"), channels: 3)
        XCTAssertEqual(grey.channels, 3)
        let greyPlane = grey.height * grey.width
        XCTAssertEqual(Array(grey.pixels[0..<greyPlane]), Array(grey.pixels[(2 * greyPlane)...]))
    }

    func testDecodeFromMemoryEqualsFile() throws {
        let bytes = try ImageDecoder.readFile(Fixtures.path("rgb.jpg"))
        XCTAssertEqual(try ImageDecoder.decode(bytes), try ImageDecoder.decode(path: Fixtures.path("rgb.jpg")))
    }

    func testPNGEncodeRoundTrip() throws {
        let mask: [UInt8] = (0..<(7 * 5)).map { $0 % 3 == 0 ? 255 : 0 }
        let png = try PNGEncoder.encodeGrey(mask, height: 5, width: 7)
        let back = try ImageDecoder.decode(png)
        XCTAssertEqual([back.channels, back.height, back.width], [1, 5, 7])
        XCTAssertEqual(back.pixels, mask.map(Float.init))
    }

    func testRawArrays() throws {
        let image = try Image.fromArray(shape: [2, 3], values: [0, 0.5, 1, 1, 0.5, 0], scale: 255)
        XCTAssertEqual(image.pixels, [0, 127.5, 255, 255, 127.5, 0])
        XCTAssertThrowsError(try Image.fromArray(shape: [2, 2, 2], values: [Float](repeating: 0, count: 8)))
        XCTAssertThrowsError(try Image.fromArray(shape: [2, 3], values: [1, 2]))
    }
}
