import CTurboJPEG

/// JPEG decoding through libjpeg-turbo's TurboJPEG API, with DCT-domain downscaling.
///
/// Decoding a 2000-pixel radiograph fully and then shrinking it to 224 pixels spends most of its time in the
/// inverse DCT and colour conversion of pixels that are thrown away. libjpeg-turbo can run a reduced IDCT that
/// produces the image at 1/2, 1/4 or 1/8 of its size directly; `decode(_:channels:atLeast:path:)` picks the
/// smallest such factor that still leaves at least the target size, and the area resize does the rest.
public enum JPEGDecoder {
    /// What the header says, read without decoding any pixels.
    public struct Header: Equatable, Sendable {
        public var width: Int
        public var height: Int
        /// 1 for a greyscale JPEG, 3 for colour.
        public var channels: Int
    }

    /// True if the bytes start with the JPEG start-of-image marker.
    public static func isJPEG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    /// Reads and checks the header: dimensions within `ImageLimits`, a colour space the engine handles.
    public static func header(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        try withDecompressor(path: path) { handle in try readHeader(handle, bytes, path: path) }
    }

    /// Decodes to a grey (1) or RGB (3) image; `channels == nil` keeps the file's own colour model.
    /// - Parameter atLeast: when given as (height, width), the image may come back smaller than stored, by a DCT
    ///   scale factor of 1/2, 1/4 or 1/8, but never smaller than this on either side.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, channels: Int? = nil,
        atLeast target: (height: Int, width: Int)? = nil, path: String
    ) throws -> Image {
        try withDecompressor(path: path) { handle in
            let header = try readHeader(handle, bytes, path: path)
            let outChannels = channels ?? header.channels
            precondition(outChannels == 1 || outChannels == 3, "channels must be 1 or 3")
            let (num, denom) = target.map { scalingFactor(header: header, target: $0) } ?? (1, 1)
            let width = (header.width * num + denom - 1) / denom
            let height = (header.height * num + denom - 1) / denom
            var out = [UInt8](repeating: 0, count: width * height * outChannels)
            let format = outChannels == 1 ? TJPF_GRAY : TJPF_RGB
            let status = out.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(
                    handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                    dst.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue),
                    TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS)
            }
            if status != 0 { throw error(handle, bytes, path: path) }
            return out.withUnsafeBufferPointer {
                Image(interleaved: $0, channels: outChannels, height: height, width: width)
            }
        }
    }

    /// The smallest factor among 1/1, 1/2, 1/4 and 1/8 that keeps both sides at least the target's.
    /// Only power-of-two denominators are used: they are libjpeg-turbo's fast reduced-IDCT paths.
    public static func scalingFactor(header: Header, target: (height: Int, width: Int)) -> (Int, Int) {
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count) else { return (1, 1) }
        var best = (1, 1)
        for i in 0..<Int(count) {
            let num = Int(factors[i].num), denom = Int(factors[i].denom)
            guard num == 1, [1, 2, 4, 8].contains(denom) else { continue }
            let w = (header.width + denom - 1) / denom, h = (header.height + denom - 1) / denom
            if w >= target.width && h >= target.height && denom > best.1 { best = (1, denom) }
        }
        return best
    }

    private static func withDecompressor<T>(path: String, _ body: (tjhandle) throws -> T) throws -> T {
        guard let handle = tjInitDecompress() else {
            throw ImageError(path: path, reason: .unsupported("cannot create a JPEG decompressor"))
        }
        defer { tjDestroy(handle) }
        return try body(handle)
    }

    private static func readHeader(_ handle: tjhandle, _ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        if bytes.isEmpty { throw ImageError(path: path, reason: .empty) }
        if !isJPEG(bytes) { throw ImageError(path: path, reason: .notAnImage) }
        var width: Int32 = 0, height: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        let status = tjDecompressHeader3(
            handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self),
            UInt(bytes.count), &width, &height, &subsamp, &colorspace)
        if status != 0 { throw error(handle, bytes, path: path) }
        try ImageLimits.check(width: Int(width), height: Int(height), path: path)
        switch UInt32(colorspace) {
        case TJCS_GRAY.rawValue: return Header(width: Int(width), height: Int(height), channels: 1)
        case TJCS_RGB.rawValue, TJCS_YCbCr.rawValue: return Header(width: Int(width), height: Int(height), channels: 3)
        default: throw ImageError(path: path, reason: .unsupported("CMYK/YCCK JPEG"))
        }
    }

    /// Classifies TurboJPEG's last error: libjpeg's "premature end" warning, or any failure of data that lacks
    /// the end-of-image marker, means the file was cut short.
    private static func error(_ handle: tjhandle, _ bytes: UnsafeRawBufferPointer, path: String) -> ImageError {
        let message = String(cString: tjGetErrorStr2(handle))
        let ended = bytes.count >= 2 && bytes[bytes.count - 2] == 0xFF && bytes[bytes.count - 1] == 0xD9
        if message.contains("Premature end") || message.contains("insufficient data") || !ended {
            return ImageError(path: path, reason: .truncated(message))
        }
        return ImageError(path: path, reason: .corrupt(message))
    }
}
