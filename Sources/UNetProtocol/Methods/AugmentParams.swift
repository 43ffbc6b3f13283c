import UNetData

/// Reads `dataset.open`'s `augment` object: the engine's own names and, as aliases with Keras' meaning, the names
/// of Keras' `ImageDataGenerator`, so a pipeline moved from Keras keeps its settings.
///
/// | Keras                  | engine            | meaning                                                       |
/// |------------------------|-------------------|---------------------------------------------------------------|
/// | `rotation_range`       | `rotation`        | degrees, uniform in ±value                                    |
/// | `shear_range`          | `shear`           | degrees (Keras' unit), uniform in ±value                      |
/// | `zoom_range`           | `zoom`            | z: [1 - z, 1 + z]; [lo, hi]: the input-coordinate factor      |
/// | `width_shift_range`    | `shift` (both)    | a fraction of the width below 1, else pixels                  |
/// | `height_shift_range`   | `shift` (both)    | a fraction of the height below 1, else pixels                 |
/// | `horizontal_flip`      | same              | flip left-right half the time                                 |
/// | `vertical_flip`        | same              | flip top-bottom half the time                                 |
/// | `brightness_range`     | -                 | [lo, hi]: multiply the image by a factor drawn from it        |
/// | `fill_mode`, `cval`    | same              | "nearest" (default), "constant" (cval), "reflect", "wrap"     |
///
/// The engine's own shift augmentation (no Keras counterpart): `gamma` [lo, hi], `noise`, `blur`,
/// `letterbox_pad`, `elastic` {`alpha`, `sigma`} (see `Augmentation`).
///
/// Giving an engine name and its Keras alias together is refused (which one would win is not obvious). Keras
/// settings the engine does elsewhere or not at all are refused with where to go instead.
enum AugmentParams {
    /// Keras ImageDataGenerator settings that are not augmentations here, with what to do instead.
    static let elsewhere: [String: String] = [
        "rescale": "is the dataset's normalization (the default scales 0...255 to [0, 1], Keras' rescale=1/255)",
        "featurewise_center": "is the dataset's normalization ({\"mean\": ..., \"std\": ...})",
        "featurewise_std_normalization": "is the dataset's normalization ({\"mean\": ..., \"std\": ...})",
        "samplewise_center": "is not supported; use the dataset's normalization",
        "samplewise_std_normalization": "is not supported; use the dataset's normalization",
        "zca_whitening": "is not supported",
        "channel_shift_range": "is not supported; brightness (an offset) or brightness_range (a factor) are",
        "validation_split": "is a dataset.open parameter, not an augmentation",
        "preprocessing_function": "cannot be sent over the protocol",
    ]

    static func read(_ a: ParamsReader) throws -> Augmentation {
        if let key = a.object.keys.sorted().first(where: { elsewhere[$0] != nil }) {
            throw a.invalid(key, elsewhere[key]!)
        }
        var aug = Augmentation()
        /// The engine's name or its Keras alias (not both), read as a number in `range`.
        func number(_ name: String, _ alias: String, in range: ClosedRange<Double>) throws -> Float? {
            if a.has(name) && a.has(alias) { throw a.invalid(alias, "give \(name) or \(alias), not both") }
            return try (a.double(name, in: range) ?? a.double(alias, in: range)).map(Float.init)
        }
        aug.rotation = try number("rotation", "rotation_range", in: 0...180) ?? 0
        aug.shear = try number("shear", "shear_range", in: 0...60) ?? 0
        if a.has("zoom") && a.has("zoom_range") { throw a.invalid("zoom_range", "give zoom or zoom_range, not both") }
        aug.zoom = Float(try a.double("zoom", default: 0, in: 0...0.99))
        if let v = a.value("zoom_range") {
            if let z = v.doubleValue {
                guard (0...0.99).contains(z) else { throw a.invalid("zoom_range", "must be in [0, 0.99] or [lo, hi]") }
                aug.zoomRange = z > 0 ? [Float(1 - z), Float(1 + z)] : nil
            } else {
                aug.zoomRange = try range(a, "zoom_range", within: 0.01...10)
            }
        }
        if let s = try a.double("shift", in: 0...0.5) {
            if a.has("width_shift_range") || a.has("height_shift_range") {
                throw a.invalid("shift", "give shift or width_shift_range/height_shift_range, not both")
            }
            aug.shift = Float(s)
        }
        aug.widthShift = try a.double("width_shift_range", in: 0...8192).map(Float.init) ?? aug.widthShift
        aug.heightShift = try a.double("height_shift_range", in: 0...8192).map(Float.init) ?? aug.heightShift
        aug.horizontalFlip = try a.bool("horizontal_flip", default: false)
        aug.verticalFlip = try a.bool("vertical_flip", default: false)
        aug.brightness = Float(try a.double("brightness", default: 0))
        aug.contrast = Float(try a.double("contrast", default: 0))
        if a.has("brightness_range") { aug.brightnessRange = try range(a, "brightness_range", within: 0...10) }
        aug.fillMode = try a.enumeration("fill_mode", Augmentation.FillMode.self) ?? .nearest
        aug.fillValue = Float(try a.double("cval", default: 0, in: 0...255))
        // Shift augmentation (issue 22).
        if a.has("gamma") { aug.gammaRange = try range(a, "gamma", within: 0.1...10) }
        aug.noise = Float(try a.double("noise", default: 0, in: 0...0.5))
        aug.blur = Float(try a.double("blur", default: 0, in: 0...16))
        aug.letterboxPad = Float(try a.double("letterbox_pad", default: 0, in: 0...0.5))
        if let e = try a.object("elastic") {
            aug.elasticAlpha = Float(try e.double("alpha", default: 30, in: 0...1000))
            aug.elasticSigma = Float(try e.double("sigma", default: 8, in: 1...64))
            try e.finish()
        }
        try a.finish()
        try aug.validate()  // the remaining ranges live with the augmentation; errors name augment.FIELD
        return aug
    }

    /// A [lo, hi] pair of numbers with lo <= hi, both in `within`.
    static func range(_ a: ParamsReader, _ key: String, within: ClosedRange<Double>) throws -> [Float] {
        let why = "must be [lo, hi] with \(within.lowerBound) <= lo <= hi <= \(within.upperBound)"
        guard let items = try a.array(key), items.count == 2, let lo = items[0].doubleValue,
            let hi = items[1].doubleValue, within.contains(lo), within.contains(hi), lo <= hi
        else { throw a.invalid(key, why) }
        return [Float(lo), Float(hi)]
    }
}
