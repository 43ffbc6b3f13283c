import UNetCore

/// The largest image the decoders accept.
///
/// A header is read and checked against these limits before any pixel buffer is allocated, so a hostile or
/// damaged file declaring 60000x60000 pixels costs nothing. 16384 per side covers every digital radiograph
/// (detectors are at most about 4300 pixels wide); 100 Mpixel bounds one decoded RGB float image to 1.2 GB.
public enum ImageLimits {
    public static let maxSide = 16_384
    public static let maxPixels = 100_000_000

    /// Throws `tooLarge` or `zeroSized` for dimensions outside the limits.
    public static func check(width: Int, height: Int, path: String) throws {
        if width <= 0 || height <= 0 { throw ImageError(path: path, reason: .zeroSized) }
        if width > maxSide || height > maxSide || (CheckedSize.product(width, height) ?? .max) > maxPixels {
            throw ImageError(path: path, reason: .tooLarge(width: width, height: height))
        }
    }
}
