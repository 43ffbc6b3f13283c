/// How 0...255 pixel values become network inputs.
///
/// JSON shape: `{"mode": "rescale", "scale": 0.00392}`, `{"mode": "standardize", "mean": [0.5], "std": [0.25]}`
/// (mean and std on the [0, 1] scale, one per channel or one for all) or `{"mode": "per_image"}`.
public struct Normalization: Codable, Equatable, Sendable {
    public enum Mode: String, Codable, Sendable {
        /// `x * scale`: Keras' `rescale=1/255` is the default, giving [0, 1].
        case rescale
        /// `(x / 255 - mean[c]) / std[c]`, as torchvision's `Normalize` after `ToTensor`.
        case standardize
        /// Each image to zero mean and unit variance over all its pixels (robust to exposure differences).
        case perImage = "per_image"
    }

    public var mode: Mode
    public var scale: Float
    public var mean: [Float]
    public var std: [Float]

    public init(mode: Mode = .rescale, scale: Float = 1.0 / 255, mean: [Float] = [0], std: [Float] = [1]) {
        self.mode = mode
        self.scale = scale
        self.mean = mean
        self.std = std
    }

    /// Keras' `rescale=1/255`: inputs in [0, 1].
    public static let unit = Normalization()

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            mode: try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .rescale,
            scale: try c.decodeIfPresent(Float.self, forKey: .scale) ?? 1.0 / 255,
            mean: try c.decodeIfPresent([Float].self, forKey: .mean) ?? [0],
            std: try c.decodeIfPresent([Float].self, forKey: .std) ?? [1])
        if std.contains(where: { $0 <= 0 }) {
            throw DecodingError.dataCorruptedError(forKey: .std, in: c, debugDescription: "std must be positive")
        }
    }

    /// Writes the normalised planes of `image` (C, H, W) to `out`.
    public func apply(_ image: Image, into out: UnsafeMutablePointer<Float>) {
        let plane = image.height * image.width
        image.pixels.withUnsafeBufferPointer { p in
            switch mode {
            case .rescale:
                for i in 0..<p.count { out[i] = p[i] * scale }
            case .standardize:
                for c in 0..<image.channels {
                    let m = mean[min(c, mean.count - 1)], s = std[min(c, std.count - 1)]
                    for i in (c * plane)..<((c + 1) * plane) { out[i] = (p[i] / 255 - m) / s }
                }
            case .perImage:
                var sum = 0.0, sumSq = 0.0
                for v in p { sum += Double(v); sumSq += Double(v) * Double(v) }
                let n = Double(max(p.count, 1)), m = sum / n
                let s = Float(max((sumSq / n - m * m).squareRoot(), 1e-6))
                for i in 0..<p.count { out[i] = (p[i] - Float(m)) / s }
            }
        }
    }
}
