import UNetCore

/// Turns a decoded image of any size into exactly what the network takes: channel count, size, value range.
///
/// JSON shape (every key optional): `{"channels": 1, "height": 224, "width": 224, "letterbox": false,
/// "normalization": {...}, "mask_threshold": 127, "mask_format": "auto", "dct_scaling": true, "harmonize": {...}}`.
public struct Preprocessing: Codable, Equatable, Sendable {
    /// 1 (grey) or 3 (RGB, grey replicated).
    public var channels: Int
    public var height: Int
    public var width: Int
    /// Fit with the aspect ratio kept and pad with black, instead of stretching.
    public var letterbox: Bool
    public var normalization: Normalization
    /// A mask pixel is foreground when its 0...255 value is above this (anti-aliased mask edges).
    public var maskThreshold: Float
    /// Binary (thresholded) or class-index masks; `auto` decides per mask from its values (see `MaskFormat`).
    public var maskFormat: MaskFormat
    /// Decode JPEGs at 1/2, 1/4 or 1/8 when the input is that much smaller (much faster, nearly identical).
    public var dctScaling: Bool
    /// How deep samples (16-bit PNG, DICOM) are windowed and which frame is read (`dataset.open`'s `window`, `frame`).
    public var decodeOptions = DecodeOptions()
    /// Train on random input-sized crops of the full-resolution images and masks instead of resizing them
    /// (`dataset.open`'s `tile`; see `randomCrop`). Images and masks are then loaded at their own size.
    public var tileSampling = false
    /// Border crop, windowing and equalisation against scanner differences (`Harmonization`), repeated at inference.
    public var harmonization = Harmonization.none

    public init(
        channels: Int = 1, height: Int = 224, width: Int = 224, letterbox: Bool = false,
        normalization: Normalization = .unit, maskThreshold: Float = 127, maskFormat: MaskFormat = .auto,
        dctScaling: Bool = true
    ) {
        precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
        precondition(height > 0 && width > 0, "input size must be positive")
        self.channels = channels
        self.height = height
        self.width = width
        self.letterbox = letterbox
        self.normalization = normalization
        self.maskThreshold = maskThreshold
        self.maskFormat = maskFormat
        self.dctScaling = dctScaling
    }

    enum CodingKeys: String, CodingKey {
        case channels, height, width, letterbox, normalization
        case maskThreshold = "mask_threshold"
        case maskFormat = "mask_format"
        case dctScaling = "dct_scaling"
        case harmonization = "harmonize"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? 1
        let height = try c.decodeIfPresent(Int.self, forKey: .height) ?? 224
        let width = try c.decodeIfPresent(Int.self, forKey: .width) ?? 224
        guard channels == 1 || channels == 3 else {
            throw DecodingError.dataCorruptedError(forKey: .channels, in: c, debugDescription: "must be 1 or 3")
        }
        guard height > 0, width > 0, height <= ImageLimits.maxSide, width <= ImageLimits.maxSide else {
            throw DecodingError.dataCorruptedError(forKey: .height, in: c, debugDescription: "size out of range")
        }
        self.init(
            channels: channels, height: height, width: width,
            letterbox: try c.decodeIfPresent(Bool.self, forKey: .letterbox) ?? false,
            normalization: try c.decodeIfPresent(Normalization.self, forKey: .normalization) ?? .unit,
            maskThreshold: try c.decodeIfPresent(Float.self, forKey: .maskThreshold) ?? 127,
            maskFormat: try c.decodeIfPresent(MaskFormat.self, forKey: .maskFormat) ?? .auto,
            dctScaling: try c.decodeIfPresent(Bool.self, forKey: .dctScaling) ?? true)
        harmonization = try c.decodeIfPresent(Harmonization.self, forKey: .harmonization) ?? .none
    }

    /// The input shape [C, H, W] this produces.
    public var inputShape: [Int] { [channels, height, width] }

    /// Decodes `source` and brings it to the input size and channel count; values stay on the 0...255 scale.
    public func loadImage(_ source: ImageSource) throws -> Image { try loadSample(source, mask: nil).image }

    /// Decodes an image and its mask and brings both to the input size: the image's uniform borders cropped
    /// (when `harmonization` asks) from both alike, then fitted, the image's intensities harmonised. Masks are
    /// resized nearest-neighbour (class indices stay indices), then made targets by `maskFormat`: 0/1 by
    /// `maskThreshold`, or class indices. A palette PNG's indices are class indices under "auto".
    public func loadSample(_ source: ImageSource, mask maskSource: ImageSource?) throws -> (image: Image, mask: Image?)
    {
        var image = try source.load(
            channels: channels, atLeast: dctScaling ? (height, width) : nil,
            options: decodeOptions)
        let region = harmonization.cropRegion(of: image)
        let decodedSize = (height: image.height, width: image.width)
        if let region { image = image.cropped(to: region) }
        // With tile sampling both stay at full resolution, to be cropped together.
        image = harmonization.adjusted(tileSampling ? image : fit(image, filter: .area))
        guard let maskSource else { return (image, nil) }
        var (mask, indexed) = try maskSource.loadMask()
        if let region { mask = mask.cropped(to: region.scaled(from: decodedSize, to: (mask.height, mask.width))) }
        let format = indexed && maskFormat == .auto ? MaskFormat.index : maskFormat
        return (image, format.targets(tileSampling ? mask : fit(mask, filter: .nearest), threshold: maskThreshold))
    }

    /// Resizes (or letterboxes) to the input size.
    public func fit(_ image: Image, filter: ResizeFilter) -> Image {
        letterbox
            ? image.letterboxed(height: height, width: width, filter: filter).image
            : image.resized(height: height, width: width, filter: filter)
    }

    /// A batch (N, C, H, W) of normalised images already at the input size.
    public func imageBatch(_ images: [Image]) -> Tensor {
        let batch = Tensor(zeros: [images.count, channels, height, width])
        for (n, image) in images.enumerated() {
            precondition(
                image.channels == channels && image.height == height && image.width == width,
                "image \(n) is \(image.channels)x\(image.height)x\(image.width), not \(inputShape)")
            normalization.apply(image, into: batch.image(n))
        }
        return batch
    }

    /// A batch (N, 1, H, W) of 0/1 or class-index masks already at the input size.
    public func maskBatch(_ masks: [Image]) -> Tensor {
        let batch = Tensor(zeros: [masks.count, 1, height, width])
        for (n, mask) in masks.enumerated() {
            precondition(mask.channels == 1 && mask.height == height && mask.width == width, "mask \(n) size")
            mask.pixels.withUnsafeBufferPointer { batch.image(n).update(from: $0.baseAddress!, count: $0.count) }
        }
        return batch
    }
}
