import Glibc

/// The image file formats the engine reads.
public enum ImageFormat: String, Sendable {
    case jpeg, png, dicom
}

/// A decoded image with what its file says about it (DICOM tags), for results a host joins back to its records.
public struct DecodedImage: Sendable {
    public var image: Image
    /// Present for DICOM files.
    public var dicom: DICOMTags?
}

/// What a cheap look at an image file says: format and declared size, no pixels decoded.
public struct ImageInfo: Equatable, Sendable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// 1 (grey) or 3 (colour) as stored.
    public var channels: Int
}

/// One entry point for decoding images from files or bytes, whatever their format.
///
/// The format is chosen by the file's signature (a DICOM file by the "DICM" after its preamble), never its
/// extension: X-ray exports are often misnamed or have none.
public enum ImageDecoder {
    /// Reads the header of `bytes` and checks it against `ImageLimits`.
    public static func info(_ bytes: UnsafeRawBufferPointer, path: String) throws -> ImageInfo {
        if bytes.isEmpty { throw ImageError(path: path, reason: .empty) }
        if JPEGDecoder.isJPEG(bytes) {
            let h = try JPEGDecoder.header(bytes, path: path)
            return ImageInfo(format: .jpeg, width: h.width, height: h.height, channels: h.channels)
        }
        if PNGDecoder.isPNG(bytes) {
            let h = try PNGDecoder.header(bytes, path: path)
            return ImageInfo(format: .png, width: h.width, height: h.height, channels: h.channels)
        }
        if DICOMDecoder.isDICOM(bytes) { return try DICOMDecoder.header(bytes, path: path).info }
        throw ImageError(path: path, reason: .notAnImage)
    }

    /// Decodes bytes holding a JPEG, PNG or DICOM.
    /// - Parameters:
    ///   - channels: 1 (grey) or 3 (RGB); `nil` keeps the stored colour model.
    ///   - atLeast: a JPEG may be decoded smaller, by DCT scaling, but not below this (height, width).
    ///   - options: how deep samples are windowed onto 0...255 (default: a DICOM's own window, else the file's
    ///     full scale) and which DICOM frame is read.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, channels: Int? = nil,
        atLeast: (height: Int, width: Int)? = nil, options: DecodeOptions = .init(),
        path: String = "<memory>"
    ) throws -> Image {
        try decodeWithTags(bytes, channels: channels, atLeast: atLeast, options: options, path: path).image
    }

    /// `decode`, with the DICOM tags of a DICOM file.
    public static func decodeWithTags(
        _ bytes: UnsafeRawBufferPointer, channels: Int? = nil,
        atLeast: (height: Int, width: Int)? = nil, options: DecodeOptions = .init(),
        path: String = "<memory>"
    ) throws -> DecodedImage {
        if DICOMDecoder.isDICOM(bytes) {
            let frame = try DICOMDecoder.decode(bytes, frame: options.frame, patientID: options.patientID, path: path)
            var image = frame.image
            (options.window ?? frame.defaultWindow).apply(to: &image)
            // MONOCHROME1 is inverted after the window, as PS3.3 C.11.2.1.2 orders the LUTs.
            if frame.inverted { for i in image.pixels.indices { image.pixels[i] = 255 - image.pixels[i] } }
            return DecodedImage(image: channels.map { image.withChannels($0) } ?? image, dicom: frame.tags)
        }
        let info = try info(bytes, path: path)
        var image: Image
        let defaultWindow: Window
        switch info.format {
        case .dicom: throw ImageError(path: path, reason: .notAnImage)  // handled above
        case .jpeg:
            image = try JPEGDecoder.decode(bytes, channels: channels, atLeast: atLeast, path: path)
            defaultWindow = .fullScale(maximum: 255)
        case .png:
            let decoded = try PNGDecoder.decode(bytes, path: path)
            image = decoded.image
            defaultWindow =
                decoded.significantBits == 8
                ? .fullScale(maximum: 255)
                : Window.fullScale(bits: decoded.significantBits, largest: image.pixels.max() ?? 0)
        }
        (options.window ?? defaultWindow).apply(to: &image)
        return DecodedImage(image: channels.map { image.withChannels($0) } ?? image, dicom: nil)
    }

    public static func decode(
        _ bytes: [UInt8], channels: Int? = nil, atLeast: (height: Int, width: Int)? = nil,
        options: DecodeOptions = .init(), path: String = "<memory>"
    ) throws -> Image {
        try bytes.withUnsafeBytes { try decode($0, channels: channels, atLeast: atLeast, options: options, path: path) }
    }

    /// Reads and decodes a file.
    public static func decode(
        path: String, channels: Int? = nil, atLeast: (height: Int, width: Int)? = nil,
        options: DecodeOptions = .init()
    ) throws -> Image {
        try decodeWithTags(path: path, channels: channels, atLeast: atLeast, options: options).image
    }

    /// Reads and decodes a file, with its DICOM tags.
    public static func decodeWithTags(
        path: String, channels: Int? = nil, atLeast: (height: Int, width: Int)? = nil,
        options: DecodeOptions = .init()
    ) throws -> DecodedImage {
        try readFile(path).withUnsafeBytes {
            try decodeWithTags($0, channels: channels, atLeast: atLeast, options: options, path: path)
        }
    }

    /// The cheap check run when a dataset is opened: reads the header (the first 64 KiB, or the whole file when
    /// a JPEG's frame header lies further in) and the last bytes, so that empty, non-image, zero-sized,
    /// enormous and visibly truncated files (no JPEG end marker, no PNG IEND chunk) are listed up front. A DICOM
    /// file is read whole and its frame 0 decoded (after its size is checked): DICOM has no end marker, and only
    /// decoding shows truncated pixel data or a transfer syntax without a decoder.
    public static func probe(path: String) throws -> ImageInfo {
        let size = try fileSize(path)
        if size == 0 { throw ImageError(path: path, reason: .empty) }
        var head = try readFile(path, maxBytes: 65_536)
        if head.withUnsafeBytes({ DICOMDecoder.isDICOM($0) }) {
            return try readFile(path).withUnsafeBytes { bytes in
                let info = try DICOMDecoder.header(bytes, path: path).info
                _ = try DICOMDecoder.decode(bytes, path: path)
                return info
            }
        }
        var info: ImageInfo
        do {
            info = try head.withUnsafeBytes { try self.info($0, path: path) }
        } catch is ImageError where head.count < size && head.starts(with: [0xFF, 0xD8, 0xFF]) {
            head = try readFile(path)
            info = try head.withUnsafeBytes { try self.info($0, path: path) }
        }
        let tail = try readTail(path, count: 64, fileSize: size)
        switch info.format {
        case .dicom: break
        case .jpeg:
            let hasEnd = zip(tail, tail.dropFirst()).contains { $0 == 0xFF && $1 == 0xD9 }
            if !hasEnd { throw ImageError(path: path, reason: .truncated("no JPEG end-of-image marker")) }
        case .png:
            let iend: [UInt8] = [0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]
            if tail.count < 8 || Array(tail.suffix(8)) != iend {
                throw ImageError(path: path, reason: .truncated("no PNG IEND chunk at the end"))
            }
        }
        return info
    }

    // MARK: - File reading

    /// Whether the file at `path` is a DICOM Part 10 file (its first 132 bytes end in "DICM").
    public static func isDICOMFile(_ path: String) -> Bool {
        guard let head = try? readFile(path, maxBytes: 132) else { return false }
        return head.withUnsafeBytes { DICOMDecoder.isDICOM($0) }
    }

    /// The whole file, or its first `maxBytes`.
    public static func readFile(_ path: String, maxBytes: Int = .max) throws -> [UInt8] {
        let size = try fileSize(path)
        guard let file = fopen(path, "rb") else { throw unreadable(path) }
        defer { fclose(file) }
        let count = min(size, maxBytes)
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, count, file) }
        if got < count { bytes.removeLast(count - got) }
        return bytes
    }

    static func readTail(_ path: String, count: Int, fileSize: Int) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw unreadable(path) }
        defer { fclose(file) }
        let n = min(count, fileSize)
        fseek(file, -n, SEEK_END)
        var bytes = [UInt8](repeating: 0, count: n)
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, n, file) }
        return Array(bytes.prefix(got))
    }

    static func fileSize(_ path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw unreadable(path) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ImageError(path: path, reason: .unreadable("not a regular file"))
        }
        return Int(st.st_size)
    }

    static func unreadable(_ path: String) -> ImageError {
        ImageError(path: path, reason: .unreadable(String(cString: strerror(errno))))
    }
}
