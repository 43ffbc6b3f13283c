import CSPNG
import Glibc

/// Writes 8-bit greyscale PNGs (masks, probability maps scaled to bytes) and RGB ones (explanation overlays).
public enum PNGEncoder {
    /// Encodes (H, W) bytes, row-major, as a greyscale PNG.
    /// - Precondition: `pixels.count == height * width`.
    public static func encodeGrey(_ pixels: [UInt8], height: Int, width: Int) throws -> [UInt8] {
        try encode(pixels, height: height, width: width, colour: SPNG_COLOR_TYPE_GRAYSCALE, samples: 1)
    }

    /// Encodes (H, W, 3) bytes, row-major with interleaved red, green and blue, as an RGB PNG.
    /// - Precondition: `pixels.count == 3 * height * width`.
    public static func encodeRGB(_ pixels: [UInt8], height: Int, width: Int) throws -> [UInt8] {
        try encode(pixels, height: height, width: width, colour: SPNG_COLOR_TYPE_TRUECOLOR, samples: 3)
    }

    private static func encode(_ pixels: [UInt8], height: Int, width: Int, colour: spng_color_type, samples: Int)
        throws -> [UInt8]
    {
        precondition(
            pixels.count == samples * height * width, "\(pixels.count) bytes for \(height)x\(width)x\(samples)")
        try ImageLimits.check(width: width, height: height, path: "<png encoder>")
        guard let ctx = spng_ctx_new(Int32(SPNG_CTX_ENCODER.rawValue)) else {
            throw ImageError(path: "<png encoder>", reason: .unsupported("cannot create a PNG encoder"))
        }
        defer { spng_ctx_free(ctx) }
        spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1)
        var ihdr = spng_ihdr(
            width: UInt32(width), height: UInt32(height), bit_depth: 8,
            color_type: UInt8(colour.rawValue), compression_method: 0,
            filter_method: 0, interlace_method: 0)
        try PNGDecoder.check(spng_set_ihdr(ctx, &ihdr), "<png encoder>")
        try pixels.withUnsafeBytes {
            try PNGDecoder.check(
                spng_encode_image(
                    ctx, $0.baseAddress, $0.count, Int32(SPNG_FMT_PNG.rawValue),
                    Int32(SPNG_ENCODE_FINALIZE.rawValue)), "<png encoder>")
        }
        var length = 0
        var error: Int32 = 0
        guard let buffer = spng_get_png_buffer(ctx, &length, &error) else {
            throw ImageError(path: "<png encoder>", reason: .corrupt(String(cString: spng_strerror(error))))
        }
        defer { free(buffer) }
        return Array(UnsafeRawBufferPointer(start: buffer, count: length))
    }

    /// Encodes a mask of 0/1 (or any) floats: values above `threshold` become 255, the rest 0.
    public static func encodeMask(_ values: [Float], height: Int, width: Int, threshold: Float = 0.5) throws
        -> [UInt8]
    {
        try encodeGrey(values.map { $0 > threshold ? 255 : 0 }, height: height, width: width)
    }
}
