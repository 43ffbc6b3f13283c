/// Why one image could not be used, with the file it came from.
///
/// Every decoding and opening path throws this type, so a dataset can list skipped files with a readable reason
/// and the protocol can map a failure to one error code without inspecting C error numbers.
public struct ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// The file or buffer holds no bytes at all.
        case empty
        /// The bytes start with no JPEG or PNG signature and no DICOM preamble.
        case notAnImage
        /// The data ends before the image does.
        case truncated(String)
        /// The data is damaged (bad marker, checksum, stream).
        case corrupt(String)
        /// The header declares a width or height of zero.
        case zeroSized
        /// The header declares dimensions past `ImageLimits`; nothing was allocated.
        case tooLarge(width: Int, height: Int)
        /// The file could not be read (missing, a directory, no permission).
        case unreadable(String)
        /// A valid image in a form this engine does not handle (for example CMYK JPEG).
        case unsupported(String)
    }

    /// The file path, or `"<memory>"` for bytes given inline.
    public var path: String
    public var reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The reason alone, in words (the protocol puts this next to the path).
    public var message: String {
        switch reason {
        case .empty: return "empty file"
        case .notAnImage: return "not a JPEG, PNG or DICOM image"
        case .truncated(let s): return "truncated image data (\(s))"
        case .corrupt(let s): return "corrupt image data (\(s))"
        case .zeroSized: return "image has zero width or height"
        case .tooLarge(let w, let h):
            return "image of \(w)x\(h) pixels exceeds the limit of \(ImageLimits.maxSide) per side and "
                + "\(ImageLimits.maxPixels) pixels"
        case .unreadable(let s): return "cannot read file (\(s))"
        case .unsupported(let s): return "unsupported image (\(s))"
        }
    }

    public var description: String { "\(path): \(message)" }
}
