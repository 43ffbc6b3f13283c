/// How a mask's pixel values become training targets.
///
/// Binary masks are drawn as 0/255 with anti-aliased edges; multi-class masks are 8-bit grey PNGs of class indices
/// 0..K-1 (what PIL writes for an index array, what MONAI and segmentation_models.pytorch read). One rule covers
/// both without asking: a mask whose values are all below `indexLimit` holds class indices (a 0/1 binary mask reads
/// the same either way), any other is binary, foreground above the threshold.
public enum MaskFormat: String, Codable, Sendable, CaseIterable {
    /// Foreground (1) where the 0...255 value is above the threshold (127), background (0) elsewhere.
    case binary
    /// Every value is a class index, kept as it is.
    case index
    /// `index` when every value is below `indexLimit`, else `binary`; decided per mask.
    case auto

    /// Class-index masks have fewer classes than this; a binary mask's foreground is far above it.
    public static let indexLimit: Float = 64

    /// The format `mask` is read with: `auto` resolved from its values.
    public func resolved(for mask: Image) -> MaskFormat {
        guard self == .auto else { return self }
        return mask.pixels.allSatisfy { $0 < MaskFormat.indexLimit } ? .index : .binary
    }

    /// `mask` (0...255 values) as targets: 0/1 for a binary mask, class indices for an index mask.
    public func targets(_ mask: Image, threshold: Float) -> Image {
        var out = mask
        switch resolved(for: mask) {
        case .index, .auto: for i in 0..<out.pixels.count { out.pixels[i] = out.pixels[i].rounded() }
        case .binary: for i in 0..<out.pixels.count { out.pixels[i] = out.pixels[i] > threshold ? 1 : 0 }
        }
        return out
    }
}
