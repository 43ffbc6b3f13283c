import CDICOM

/// The tags a host needs to join a result back to its study, reported with every result of a DICOM image.
public struct DICOMTags: Equatable, Sendable {
    public var studyInstanceUID: String?
    public var sopInstanceUID: String?
    public var photometricInterpretation: String
    /// Row spacing, column spacing in mm (PixelSpacing), when present.
    public var pixelSpacing: [Double]?
    public var rows: Int
    public var columns: Int
    public var bitsStored: Int
    public var viewPosition: String?
    /// Only filled when the request asks for it (identifying data stays out of logs and results by default).
    public var patientID: String?
    public var frames: Int
    public var transferSyntax: String
}

/// DICOM decoding through DCMTK (the CDICOM shim): the modality LUT (rescale slope and intercept) applied to the
/// stored values of one frame, the file's VOI window as the default `Window`, MONOCHROME1 flagged for inversion.
///
/// Rows and Columns are checked against `ImageLimits` before a frame is decompressed or a buffer allocated, so a
/// file declaring 60000 x 60000 pixels costs nothing.
public enum DICOMDecoder {
    /// A Part 10 file: 128 bytes of preamble, then "DICM". Extension-less DICOM exports are recognised so. A JPEG
    /// or PNG signature wins (their 129th to 132nd bytes could spell DICM by chance).
    public static func isDICOM(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 132 && bytes[128] == 0x44 && bytes[129] == 0x49 && bytes[130] == 0x43 && bytes[131] == 0x4D
            && !JPEGDecoder.isJPEG(bytes) && !PNGDecoder.isPNG(bytes)
    }

    /// One frame in modality units, before any window.
    public struct Frame {
        public var image: Image
        /// The file's first WindowCenter / WindowWidth, else the frame's min-max.
        public var defaultWindow: Window
        /// MONOCHROME1: the smallest value is white, so the windowed image is inverted.
        public var inverted: Bool
        public var tags: DICOMTags
    }

    /// The declared image (no pixels decoded): size checked against the limits.
    public static func header(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (
        info: ImageInfo, tags: DICOMTags
    ) {
        let file = try open(bytes, path: path)
        defer { cdicom_close(file) }
        let (info, tags) = try describe(file, path: path)
        return (info, tags)
    }

    /// Decodes frame `frame` (see `Frame`); `patientID` adds PatientID to the tags.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, frame: Int = 0, patientID: Bool = false,
        path: String
    ) throws -> Frame {
        let file = try open(bytes, path: path)
        defer { cdicom_close(file) }
        let (info, described) = try describe(file, path: path)
        var tags = described
        var raw = cdicom_info()
        cdicom_get_info(file, &raw)
        guard raw.has_pixel_data != 0 else {
            throw ImageError(path: path, reason: .unsupported("DICOM without pixel data"))
        }
        let samples = raw.samples_per_pixel
        guard samples == 1 || samples == 3 else {
            throw ImageError(path: path, reason: .unsupported("\(samples) samples per pixel (1 or 3 are read)"))
        }
        guard frame < Int(raw.frames) else {
            throw ImageError(path: path, reason: .unsupported("frame \(frame) asked; the file has \(raw.frames)"))
        }
        var pixels = [Float](repeating: 0, count: Int(samples) * info.width * info.height)
        var message = [CChar](repeating: 0, count: 256)
        let status = pixels.withUnsafeMutableBufferPointer {
            cdicom_decode_frame(file, Int32(frame), $0.baseAddress, $0.count, &message, message.count)
        }
        try check(Int(status), message, path: path)
        if patientID { tags.patientID = string(file, 0x0010, 0x0020) }
        let image = Image(channels: Int(samples), height: info.height, width: info.width, pixels: pixels)
        let window: Window =
            raw.has_window != 0 && raw.window_width > 0
            ? .centerWidth(center: raw.window_center, width: raw.window_width) : .minMax
        let photometric = tags.photometricInterpretation
        return Frame(image: image, defaultWindow: window, inverted: photometric == "MONOCHROME1", tags: tags)
    }

    // MARK: - Helpers

    private static func open(_ bytes: UnsafeRawBufferPointer, path: String) throws -> OpaquePointer {
        var status: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        guard let file = cdicom_open(bytes.baseAddress, bytes.count, &status, &message, message.count) else {
            try check(Int(status), message, path: path)
            throw ImageError(path: path, reason: .corrupt("DICOM could not be read"))
        }
        return file
    }

    private static func describe(_ file: OpaquePointer, path: String) throws -> (ImageInfo, DICOMTags) {
        var raw = cdicom_info()
        cdicom_get_info(file, &raw)
        try ImageLimits.check(width: Int(raw.columns), height: Int(raw.rows), path: path)
        let photometric = withUnsafeBytes(of: raw.photometric) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        let syntax = withUnsafeBytes(of: raw.transfer_syntax) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        let spacing = string(file, 0x0028, 0x0030).map { $0.split(separator: "\\").compactMap { Double($0) } }
        let tags = DICOMTags(
            studyInstanceUID: string(file, 0x0020, 0x000D), sopInstanceUID: string(file, 0x0008, 0x0018),
            photometricInterpretation: photometric, pixelSpacing: spacing, rows: Int(raw.rows),
            columns: Int(raw.columns), bitsStored: Int(raw.bits_stored), viewPosition: string(file, 0x0018, 0x5101),
            patientID: nil, frames: Int(raw.frames), transferSyntax: syntax)
        let info = ImageInfo(
            format: .dicom, width: Int(raw.columns), height: Int(raw.rows),
            channels: raw.samples_per_pixel == 3 ? 3 : 1)
        return (info, tags)
    }

    private static func string(_ file: OpaquePointer, _ group: UInt16, _ element: UInt16) -> String? {
        var out = [CChar](repeating: 0, count: 1024)
        guard cdicom_get_string(file, group, element, &out, out.count) >= 0 else { return nil }
        return String(cString: out)
    }

    private static func check(_ status: Int, _ message: [CChar], path: String) throws {
        let text = String(cString: message)
        switch status {
        case Int(CDICOM_OK): return
        case Int(CDICOM_TRUNCATED): throw ImageError(path: path, reason: .truncated(text))
        case Int(CDICOM_UNSUPPORTED): throw ImageError(path: path, reason: .unsupported(text))
        case Int(CDICOM_NO_PIXELS): throw ImageError(path: path, reason: .unsupported("DICOM without pixel data"))
        default: throw ImageError(path: path, reason: .corrupt(text))
        }
    }
}
