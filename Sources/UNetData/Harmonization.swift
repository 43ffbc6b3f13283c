import UNetCore

/// Preprocessing that takes scanner differences out of an image before the network sees it: cropping of uniform
/// borders (letterbox bands), percentile windowing, and histogram equalisation or CLAHE.
///
/// It is part of a dataset's `Preprocessing` and so of the checkpoint, and inference repeats it on every image:
/// a model trained on equalised images is never run on raw ones. The order is fixed: crop (at the image's own
/// size, the mask cropped alike), fit to the input size, then window, then equalise; normalisation comes after.
///
/// JSON shape (`dataset.open`'s, `predict`'s and `segment`'s `harmonize`, every key optional):
/// `{"crop_borders": true, "border_tolerance": 8, "percentiles": [1, 99], "equalize": true}` or with
/// `"clahe": {"clip_limit": 2, "tile_grid": [8, 8]}` in place of `equalize`.
public struct Harmonization: Codable, Equatable, Sendable {
    /// Crop uniform rows and columns at the edges (see `BorderCrop`); the output mask is put back in place.
    public var cropBorders = false
    /// How far apart (0...255 scale) values of a band's row or column may be.
    public var borderTolerance: Float = 8
    /// [low, high] percentiles mapped to 0 and 255 (numpy's linear definition), clamped.
    public var percentiles: [Double]?
    /// Global histogram equalisation (scikit-image's `equalize_hist`).
    public var equalize = false
    /// Contrast-limited adaptive histogram equalisation (OpenCV's).
    public var clahe: CLAHE?

    public init() {}

    /// Nothing to do.
    public static let none = Harmonization()

    enum CodingKeys: String, CodingKey {
        case cropBorders = "crop_borders", borderTolerance = "border_tolerance", percentiles, equalize, clahe
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cropBorders = try c.decodeIfPresent(Bool.self, forKey: .cropBorders) ?? false
        borderTolerance = try c.decodeIfPresent(Float.self, forKey: .borderTolerance) ?? 8
        percentiles = try c.decodeIfPresent([Double].self, forKey: .percentiles)
        equalize = try c.decodeIfPresent(Bool.self, forKey: .equalize) ?? false
        clahe = try c.decodeIfPresent(CLAHE.self, forKey: .clahe)
        try validate()
    }

    /// Checks ranges; the error names the setting as `harmonize.FIELD`.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw ConfigError(field: "harmonize." + field, reason: why) }
        }
        try check((0...255).contains(borderTolerance), "border_tolerance", "must be in 0...255")
        if let p = percentiles {
            try check(
                p.count == 2 && p[0] >= 0 && p[0] < p[1] && p[1] <= 100, "percentiles",
                "must be [low, high] with 0 <= low < high <= 100")
        }
        if let c = clahe {
            try check(!equalize, "clahe", "give equalize or clahe, not both")
            try check(c.clipLimit.isFinite && c.clipLimit <= 1000, "clahe.clip_limit", "must be at most 1000")
            try check((1...64).contains(c.tileRows), "clahe.tile_rows", "must be in 1...64")
            try check((1...64).contains(c.tileColumns), "clahe.tile_columns", "must be in 1...64")
        }
    }

    /// The region kept by `cropBorders` (nil when it is off or there are no bands).
    public func cropRegion(of image: Image) -> LetterboxPlacement? {
        guard cropBorders else { return nil }
        let r = BorderCrop.region(of: image, tolerance: borderTolerance)
        return r.covers(height: image.height, width: image.width) ? nil : r
    }

    /// The intensity steps (window, then equalisation) on an image already at the input size.
    public func adjusted(_ image: Image) -> Image {
        var out = image
        if let p = percentiles {
            Window.percentiles(low: p[0], high: p[1]).applyPerChannel(to: &out)
        }
        if equalize { out = out.histogramEqualized() }
        if let clahe { out = clahe.apply(to: out) }
        return out
    }
}

extension Window {
    /// The window applied to each channel on its own (percentiles of one channel's values).
    func applyPerChannel(to image: inout Image) {
        let plane = image.height * image.width
        if image.channels == 1 { apply(to: &image); return }
        for c in 0..<image.channels {
            var one = Image(
                channels: 1, height: image.height, width: image.width,
                pixels: Array(image.pixels[(c * plane)..<((c + 1) * plane)]))
            apply(to: &one)
            image.pixels.replaceSubrange((c * plane)..<((c + 1) * plane), with: one.pixels)
        }
    }
}
