import CSPNG

/// PNG decoding and encoding through libspng.
///
/// Decodes every PNG colour type (grey, grey+alpha, RGB, RGBA, palette) at bit depths 1 to 16 into a grey or RGB
/// `Image`; alpha is dropped. 16-bit samples come out in their own units (0...65535) with the significant bits the
/// sBIT chunk declares, for `Window` to map onto 0...255 at full precision. Encoding writes 8-bit greyscale, which
/// is what masks need.
public enum PNGDecoder {
    public struct Header: Equatable, Sendable {
        public var width: Int
        public var height: Int
        /// 1 for grey (with or without alpha), 3 for RGB, RGBA and palette images.
        public var channels: Int
        public var bitDepth: Int
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public static func isPNG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 8 && zip(bytes.prefix(8), signature).allSatisfy { $0 == $1 }
    }

    /// Reads the IHDR chunk directly (it sits at a fixed offset) and checks it against `ImageLimits`, so an
    /// enormous declared size is refused with its dimensions before libspng or any buffer is involved.
    public static func header(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        if bytes.isEmpty { throw ImageError(path: path, reason: .empty) }
        if !isPNG(bytes) { throw ImageError(path: path, reason: .notAnImage) }
        guard bytes.count >= 33 else { throw ImageError(path: path, reason: .truncated("file ends inside the header")) }
        guard bytes[12] == 0x49, bytes[13] == 0x48, bytes[14] == 0x44, bytes[15] == 0x52 else {
            throw ImageError(path: path, reason: .corrupt("first chunk is not IHDR"))
        }
        func be32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(bytes[at + $1]) } }
        let width = be32(16), height = be32(20)
        try ImageLimits.check(width: width, height: height, path: path)
        let depth = Int(bytes[24]), colorType = Int(bytes[25])
        guard [0, 2, 3, 4, 6].contains(colorType), [1, 2, 4, 8, 16].contains(depth) else {
            throw ImageError(path: path, reason: .corrupt("colour type \(colorType) with bit depth \(depth)"))
        }
        return Header(
            width: width, height: height, channels: colorType == 0 || colorType == 4 ? 1 : 3,
            bitDepth: depth)
    }

    /// Decodes to an image with the file's own colour model (grey or RGB); convert with `withChannels(_:)`.
    /// 8-bit and smaller depths come out on 0...255; 16-bit ones in their own units, with `significantBits` from
    /// the sBIT chunk when the file has one (12-bit detector data is often stored so).
    public static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws
        -> (image: Image, significantBits: Int?)
    {
        let header = try header(bytes, path: path)
        return try withDecoder(bytes, path: path) { ctx in try decode(ctx, header: header, path: path) }
    }

    /// A libspng decoder over `bytes`, with the size limits set, for the duration of `body`.
    static func withDecoder<T>(_ bytes: UnsafeRawBufferPointer, path: String, _ body: (OpaquePointer) throws -> T)
        throws -> T
    {
        guard let ctx = spng_ctx_new(0) else {
            throw ImageError(path: path, reason: .unsupported("cannot create a PNG decoder"))
        }
        defer { spng_ctx_free(ctx) }
        spng_set_image_limits(ctx, UInt32(ImageLimits.maxSide), UInt32(ImageLimits.maxSide))
        // Ancillary chunks (text, ICC profiles) may not make memory grow without bound either.
        spng_set_chunk_limits(ctx, 16 << 20, 64 << 20)
        try check(spng_set_png_buffer(ctx, bytes.baseAddress, bytes.count), path)
        return try body(ctx)
    }

    static func decode(_ ctx: OpaquePointer, header: Header, path: String) throws
        -> (image: Image, significantBits: Int?)
    {
        var ihdr = spng_ihdr()
        try check(spng_get_ihdr(ctx, &ihdr), path)

        // Pick the output format libspng can convert to without losing precision.
        let sixteen = ihdr.bit_depth == 16
        let (format, samples): (spng_format, Int)
        switch Int(ihdr.color_type) {
        case 0: (format, samples) = sixteen ? (SPNG_FMT_PNG, 1) : (SPNG_FMT_G8, 1)
        case 4: (format, samples) = (SPNG_FMT_PNG, 2)  // grey+alpha is always 8 or 16 bits
        default: (format, samples) = sixteen ? (SPNG_FMT_RGBA16, 4) : (SPNG_FMT_RGB8, 3)
        }
        var size = 0
        try check(spng_decoded_image_size(ctx, Int32(format.rawValue), &size), path)
        let expected = header.width * header.height * samples * (sixteen ? 2 : 1)
        guard size == expected else {
            throw ImageError(path: path, reason: .corrupt("decoder wants \(size) bytes, expected \(expected)"))
        }
        if sixteen {
            var out = [UInt16](repeating: 0, count: size / 2)
            try out.withUnsafeMutableBytes {
                try check(
                    spng_decode_image(
                        ctx, $0.baseAddress, size,
                        Int32(format.rawValue), 0), path)
            }
            var sbit = spng_sbit()
            let significant =
                spng_get_sbit(ctx, &sbit) == 0
                ? Int(Int(ihdr.color_type) == 0 || Int(ihdr.color_type) == 4 ? sbit.grayscale_bits : sbit.red_bits)
                : nil
            let image = out.withUnsafeBufferPointer {
                Image(interleaved16: $0, channels: samples, height: header.height, width: header.width, divisor: 1)
            }
            return (image, significant)
        }
        var out = [UInt8](repeating: 0, count: size)
        try out.withUnsafeMutableBytes {
            try check(
                spng_decode_image(
                    ctx, $0.baseAddress, size,
                    Int32(format.rawValue), 0), path)
        }
        let image = out.withUnsafeBufferPointer {
            Image(interleaved: $0, channels: samples, height: header.height, width: header.width)
        }
        return (image, 8)
    }

    /// A palette PNG's pixels as their palette indices (what a multi-class mask saved by PIL in mode "P", or a
    /// Pascal VOC label image, means), on a grey image of 0...255 values; nil for any other colour type.
    public static func paletteIndices(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Image? {
        let header = try header(bytes, path: path)
        guard bytes[25] == 3 else { return nil }
        return try withDecoder(bytes, path: path) { ctx in try paletteIndices(ctx, header: header, path: path) }
    }

    static func paletteIndices(_ ctx: OpaquePointer, header: Header, path: String) throws -> Image {
        // The PNG's own format: one index per sample, packed into bytes below 8 bits per pixel.
        let format = Int32(SPNG_FMT_PNG.rawValue)
        var size = 0
        try check(spng_decoded_image_size(ctx, format, &size), path)
        let (h, w, depth) = (header.height, header.width, header.bitDepth)
        let rowBytes = (w * depth + 7) / 8
        guard size == rowBytes * h else {
            throw ImageError(path: path, reason: .corrupt("decoder wants \(size) bytes, expected \(rowBytes * h)"))
        }
        var packed = [UInt8](repeating: 0, count: size)
        try packed.withUnsafeMutableBytes { try check(spng_decode_image(ctx, $0.baseAddress, size, format, 0), path) }
        var pixels = [Float](repeating: 0, count: h * w)
        let perByte = 8 / depth, maskBits = (1 << depth) - 1
        for y in 0..<h {
            for x in 0..<w {
                let byte = Int(packed[y * rowBytes + x / perByte])
                let shift = 8 - depth * (x % perByte + 1)
                pixels[y * w + x] = Float((byte >> shift) & maskBits)
            }
        }
        return Image(channels: 1, height: h, width: w, pixels: pixels)
    }

    static func check(_ status: Int32, _ path: String) throws {
        guard status != 0 else { return }
        let message = String(cString: spng_strerror(status))
        switch status {
        case SPNG_IO_EOF.rawValue, SPNG_EIDAT_TOO_SHORT.rawValue:
            throw ImageError(path: path, reason: .truncated(message))
        case SPNG_EUSER_WIDTH.rawValue, SPNG_EUSER_HEIGHT.rawValue:
            throw ImageError(path: path, reason: .tooLarge(width: 0, height: 0))
        default:
            throw ImageError(path: path, reason: .corrupt(message))
        }
    }
}
