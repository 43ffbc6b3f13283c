import Foundation
import UNetCore

/// Training-time augmentation: one random affine transform (rotation, shear, zoom, shift, flips) applied
/// identically to an image and its mask, then brightness and contrast on the image alone.
///
/// The settings read as Keras' ImageDataGenerator's: `rotation` and `shear` in degrees (ranges ±value),
/// `zoom` 0.2 means a scale in [0.8, 1.2], `shift` a fraction of the size. The reference pipeline
/// (rescale 1/255, shear 0.2, zoom 0.2, horizontal flip) is `{"shear": 0.2, "zoom": 0.2, "horizontal_flip": true}`
/// with the dataset's default [0, 1] scaling. Keras' own names (`rotation_range`, `zoom_range` [lo, hi],
/// `brightness_range`, `fill_mode`, ...) map onto the fields below with Keras' meaning (see `KerasAugmentNames`
/// in the protocol layer). Pixels mapped from outside the image are filled by `fillMode` (Keras' default
/// "nearest": the nearest edge pixel); masks are resampled with nearest neighbour, so they keep their values, and
/// take 0 (background) where a constant fill gives the image `fillValue`.
public struct Augmentation: Codable, Equatable, Sendable {
    /// How pixels mapped from outside the image are filled, as Keras' `fill_mode` (scipy's modes).
    public enum FillMode: String, Codable, Sendable, CaseIterable {
        /// aaaa|abcd|dddd
        case nearest
        /// kkkk|abcd|kkkk with k = `fillValue` (Keras' `cval`)
        case constant
        /// dcba|abcd|dcba (the edge pixel repeated, as scipy's "reflect")
        case reflect
        /// abcd|abcd|abcd
        case wrap
    }

    public var rotation: Float = 0
    public var shear: Float = 0
    public var zoom: Float = 0
    /// Keras' `zoom_range` [lo, hi]: the input-coordinate factor, drawn per axis (below 1 zooms in). Replaces
    /// `zoom` when set.
    public var zoomRange: [Float]?
    /// Shift ranges: a fraction of the width (height) below 1, else pixels, as Keras' `width_shift_range`.
    public var widthShift: Float = 0
    public var heightShift: Float = 0
    public var horizontalFlip = false
    public var verticalFlip = false
    /// Brightness: add a uniform offset in ±`brightness` × 255. Contrast: scale about the mean by 1 ± `contrast`.
    public var brightness: Float = 0
    public var contrast: Float = 0
    /// Keras' `brightness_range` [lo, hi]: multiply the image by a factor drawn from it.
    public var brightnessRange: [Float]?
    public var fillMode = FillMode.nearest
    /// The image value (0...255 scale) of a constant fill.
    public var fillValue: Float = 0

    // Shift augmentation (issue 22, `AugmentationShift.swift`): what another scanner or hospital changes.
    /// Gamma `255 · (v / 255)^g`, g drawn log-uniformly from [lo, hi] (so [0.5, 2] is as often darker as lighter).
    public var gammaRange: [Float]?
    /// Gaussian noise per pixel, its standard deviation drawn from [0, noise] × 255.
    public var noise: Float = 0
    /// Gaussian blur, sigma drawn from [0, blur] pixels.
    public var blur: Float = 0
    /// Random letterbox: half the time the image is shrunk along one axis (drawn) by a fraction drawn from
    /// [0, letterboxPad] and centred between black bands; the mask alike, its bands background.
    public var letterboxPad: Float = 0
    /// Elastic deformation as Simard et al. (2003): displacements uniform in ±1 per pixel, smoothed by a Gaussian
    /// of `elasticSigma` pixels, times `elasticAlpha` pixels; image bilinear, mask nearest, by the same field.
    public var elasticAlpha: Float = 0
    public var elasticSigma: Float = 8

    /// The native `shift`: the same fraction for both axes.
    public var shift: Float {
        get { max(widthShift, heightShift) }
        set { widthShift = newValue; heightShift = newValue }
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rotation, shear, zoom, zoomRange = "zoom_range", widthShift = "width_shift", heightShift = "height_shift"
        case shift, horizontalFlip = "horizontal_flip", verticalFlip = "vertical_flip", brightness, contrast
        case brightnessRange = "brightness_range", fillMode = "fill_mode", fillValue = "cval"
        case gammaRange = "gamma", noise, blur, letterboxPad = "letterbox_pad", elasticAlpha = "elastic_alpha"
        case elasticSigma = "elastic_sigma"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rotation = try c.decodeIfPresent(Float.self, forKey: .rotation) ?? 0
        shear = try c.decodeIfPresent(Float.self, forKey: .shear) ?? 0
        zoom = try c.decodeIfPresent(Float.self, forKey: .zoom) ?? 0
        zoomRange = try c.decodeIfPresent([Float].self, forKey: .zoomRange)
        shift = try c.decodeIfPresent(Float.self, forKey: .shift) ?? 0
        widthShift = try c.decodeIfPresent(Float.self, forKey: .widthShift) ?? widthShift
        heightShift = try c.decodeIfPresent(Float.self, forKey: .heightShift) ?? heightShift
        horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? false
        verticalFlip = try c.decodeIfPresent(Bool.self, forKey: .verticalFlip) ?? false
        brightness = try c.decodeIfPresent(Float.self, forKey: .brightness) ?? 0
        contrast = try c.decodeIfPresent(Float.self, forKey: .contrast) ?? 0
        brightnessRange = try c.decodeIfPresent([Float].self, forKey: .brightnessRange)
        fillMode = try c.decodeIfPresent(FillMode.self, forKey: .fillMode) ?? .nearest
        fillValue = try c.decodeIfPresent(Float.self, forKey: .fillValue) ?? 0
        gammaRange = try c.decodeIfPresent([Float].self, forKey: .gammaRange)
        noise = try c.decodeIfPresent(Float.self, forKey: .noise) ?? 0
        blur = try c.decodeIfPresent(Float.self, forKey: .blur) ?? 0
        letterboxPad = try c.decodeIfPresent(Float.self, forKey: .letterboxPad) ?? 0
        elasticAlpha = try c.decodeIfPresent(Float.self, forKey: .elasticAlpha) ?? 0
        elasticSigma = try c.decodeIfPresent(Float.self, forKey: .elasticSigma) ?? 8
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rotation, forKey: .rotation); try c.encode(shear, forKey: .shear);
        try c.encode(zoom, forKey: .zoom)
        try c.encodeIfPresent(zoomRange, forKey: .zoomRange)
        try c.encode(widthShift, forKey: .widthShift); try c.encode(heightShift, forKey: .heightShift)
        try c.encode(horizontalFlip, forKey: .horizontalFlip); try c.encode(verticalFlip, forKey: .verticalFlip)
        try c.encode(brightness, forKey: .brightness); try c.encode(contrast, forKey: .contrast)
        try c.encodeIfPresent(brightnessRange, forKey: .brightnessRange)
        try c.encode(fillMode, forKey: .fillMode); try c.encode(fillValue, forKey: .fillValue)
        try c.encodeIfPresent(gammaRange, forKey: .gammaRange)
        try c.encode(noise, forKey: .noise); try c.encode(blur, forKey: .blur)
        try c.encode(letterboxPad, forKey: .letterboxPad)
        try c.encode(elasticAlpha, forKey: .elasticAlpha); try c.encode(elasticSigma, forKey: .elasticSigma)
    }

    public var isIdentity: Bool {
        rotation == 0 && shear == 0 && zoom == 0 && zoomRange == nil && widthShift == 0 && heightShift == 0
            && !horizontalFlip && !verticalFlip && brightness == 0 && contrast == 0 && brightnessRange == nil
            && !hasShiftSteps
    }

    /// Checks ranges; the error names the setting.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw ConfigError(field: field, reason: why) }
        }
        try check((0...180).contains(rotation), "augment.rotation", "must be in 0...180 degrees")
        try check((0...60).contains(shear), "augment.shear", "must be in 0...60 degrees")
        try check((0...0.99).contains(zoom), "augment.zoom", "must be in 0...0.99")
        try check(
            (0...8192).contains(widthShift), "augment.width_shift_range",
            "must be a fraction of the width below 1, or pixels up to 8192")
        try check(
            (0...8192).contains(heightShift), "augment.height_shift_range",
            "must be a fraction of the height below 1, or pixels up to 8192")
        if let r = zoomRange {
            try check(
                r.count == 2 && r[0] > 0 && r[0] <= r[1] && r[1] <= 10, "augment.zoom_range",
                "must be [lo, hi] with 0 < lo <= hi <= 10")
        }
        if let r = brightnessRange {
            try check(
                r.count == 2 && r[0] >= 0 && r[0] <= r[1] && r[1] <= 10, "augment.brightness_range",
                "must be [lo, hi] with 0 <= lo <= hi <= 10")
        }
        try check((0...255).contains(fillValue), "augment.cval", "must be in 0...255 (the image's 8-bit scale)")
        try check((0...1).contains(brightness), "augment.brightness", "must be in 0...1")
        try check((0...0.99).contains(contrast), "augment.contrast", "must be in 0...0.99")
        try validateShiftSteps(check)
    }

    /// The transform for one sample, drawn from `rng`: a 2x3 matrix mapping output pixel centres to input
    /// coordinates (the inverse warp), a brightness offset and a contrast factor.
    struct Draw {
        var inverse: (Float, Float, Float, Float, Float, Float)
        var offset: Float
        var gain: Float
        /// Keras' brightness_range factor (1: none).
        var factor: Float = 1
    }

    func draw(height h: Int, width w: Int, rng: inout RandomGenerator) -> Draw {
        let deg = Float.pi / 180
        let theta = rotation > 0 ? rng.uniform(-rotation, rotation) * deg : 0
        let shearAngle = shear > 0 ? rng.uniform(-shear, shear) * deg : 0
        var zx: Float = zoom > 0 ? rng.uniform(1 - zoom, 1 + zoom) : 1
        var zy: Float = zoom > 0 ? rng.uniform(1 - zoom, 1 + zoom) : 1
        if let r = zoomRange {
            // Keras draws the factor input coordinates are multiplied by; the forward scale is its inverse.
            zx = 1 / rng.uniform(r[0], r[1])
            zy = 1 / rng.uniform(r[0], r[1])
        }
        // A shift range below 1 is a fraction of the side, else pixels (Keras' rule).
        let tx = widthShift > 0 ? rng.uniform(-widthShift, widthShift) * (widthShift < 1 ? Float(w) : 1) : 0
        let ty = heightShift > 0 ? rng.uniform(-heightShift, heightShift) * (heightShift < 1 ? Float(h) : 1) : 0
        let flip: Float = horizontalFlip && rng.next() % 2 == 0 ? -1 : 1
        let offset = brightness > 0 ? rng.uniform(-brightness, brightness) * 255 : 0
        let gain = contrast > 0 ? rng.uniform(1 - contrast, 1 + contrast) : 1
        // Drawn after the settings that existed first, so their sequences (and earlier runs) stay as they were.
        let flipY: Float = verticalFlip && rng.next() % 2 == 0 ? -1 : 1
        let factor = brightnessRange.map { rng.uniform($0[0], $0[1]) } ?? 1
        // Forward map about the centre: flip, then zoom, shear, rotate, then shift. Keras composes the same
        // pieces; the inverse is what resampling needs. Input coordinate = A · (output − centre − t) + centre.
        let (c, s) = (cos(theta), sin(theta))
        // M = R · Sh · Z · F, with Sh = [[1, -sin(φ)], [0, cos(φ)]] as Keras writes its shear matrix.
        let sh = (a: Float(1), b: -sin(shearAngle), c: Float(0), d: cos(shearAngle))
        // R · Sh
        let rs = (a: c * sh.a - s * sh.c, b: c * sh.b - s * sh.d, c: s * sh.a + c * sh.c, d: s * sh.b + c * sh.d)
        // · Z · F
        let m = (a: rs.a * zx * flip, b: rs.b * zy * flipY, c: rs.c * zx * flip, d: rs.d * zy * flipY)
        let det = m.a * m.d - m.b * m.c
        let inv = (a: m.d / det, b: -m.b / det, c: -m.c / det, d: m.a / det)
        let (cx, cy) = (Float(w - 1) / 2, Float(h - 1) / 2)
        // x_in = inv · (x_out − centre − t) + centre
        let ex = cx - inv.a * (cx + tx) - inv.b * (cy + ty)
        let ey = cy - inv.c * (cx + tx) - inv.d * (cy + ty)
        return Draw(inverse: (inv.a, inv.b, ex, inv.c, inv.d, ey), offset: offset, gain: gain, factor: factor)
    }

    /// Augments an image and (optionally) its mask with one draw from `rng`.
    public func apply(_ image: Image, mask: Image?, rng: inout RandomGenerator) -> (Image, Image?) {
        if isIdentity { return (image, mask) }
        let d = draw(height: image.height, width: image.width, rng: &rng)
        var out = warp(image, d.inverse, nearest: false, fill: fillValue)
        if d.offset != 0 || d.gain != 1 || d.factor != 1 {
            let plane = out.height * out.width
            for ch in 0..<out.channels {
                var mean: Float = 0
                for i in 0..<plane { mean += out.pixels[ch * plane + i] }
                mean /= Float(plane)
                for i in 0..<plane {
                    let v = ((out.pixels[ch * plane + i] - mean) * d.gain + mean + d.offset) * d.factor
                    out.pixels[ch * plane + i] = min(max(v, 0), 255)
                }
            }
        }
        // The mask has the image's size (both were fitted to the input), so the same inverse map aligns them.
        let outMask = mask.map { warp($0, d.inverse, nearest: true, fill: 0) }
        // The shift steps draw after everything above, so settings without them repeat their old sequences.
        return hasShiftSteps ? shiftSteps(out, outMask, rng: &rng) : (out, outMask)
    }

    /// Where index `i` of a side of `n` pixels reads from under the fill mode; nil: outside (a constant fill).
    @inline(__always)
    func source(_ i: Int, _ n: Int) -> Int? {
        if i >= 0 && i < n { return i }
        switch fillMode {
        case .nearest: return min(max(i, 0), n - 1)
        case .constant: return nil
        case .wrap: return (i % n + n) % n
        case .reflect:
            let m = (i % (2 * n) + 2 * n) % (2 * n)
            return m < n ? m : 2 * n - 1 - m
        }
    }

    /// Resamples `image` at `A · (x, y, 1)` for every output pixel (x, y), filling outside by `fillMode`.
    func warp(_ image: Image, _ a: (Float, Float, Float, Float, Float, Float), nearest: Bool, fill: Float) -> Image {
        let (h, w) = (image.height, image.width)
        var out = Image(channels: image.channels, height: h, width: w)
        let plane = h * w
        // "nearest" keeps its original arithmetic (the coordinate clamped to the edge), so earlier runs repeat.
        let clamped = fillMode == .nearest
        image.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let sx = a.0 * Float(x) + a.1 * Float(y) + a.2
                        let sy = a.3 * Float(x) + a.4 * Float(y) + a.5
                        for ch in 0..<image.channels {
                            let channel = UnsafeBufferPointer(rebasing: src[(ch * plane)..<((ch + 1) * plane)])
                            dst[ch * plane + y * w + x] =
                                clamped
                                ? sampleClamped(channel, sx, sy, h, w, nearest: nearest)
                                : sampleFilled(channel, sx, sy, h, w, nearest: nearest, fill: fill)
                        }
                    }
                }
            }
        }
        return out
    }

    /// The value of one channel `src` (h × w) at (sx, sy), the coordinate clamped to the image.
    @inline(__always)
    func sampleClamped(
        _ src: UnsafeBufferPointer<Float>, _ rx: Float, _ ry: Float, _ h: Int, _ w: Int,
        nearest: Bool
    ) -> Float {
        let sx = min(max(rx, 0), Float(w - 1)), sy = min(max(ry, 0), Float(h - 1))
        if nearest { return src[Int(sy.rounded()) * w + Int(sx.rounded())] }
        let (x0, y0) = (Int(sx), Int(sy))
        let (x1, y1) = (min(x0 + 1, w - 1), min(y0 + 1, h - 1))
        return Augmentation.bilinear(
            src[y0 * w + x0], src[y0 * w + x1], src[y1 * w + x0], src[y1 * w + x1],
            sx - Float(x0), sy - Float(y0))
    }

    /// The value of one channel `src` (h × w) at (sx, sy), reading outside by `fillMode` (`fill` for constant).
    @inline(__always)
    func sampleFilled(
        _ src: UnsafeBufferPointer<Float>, _ sx: Float, _ sy: Float, _ h: Int, _ w: Int,
        nearest: Bool, fill: Float
    ) -> Float {
        func at(_ yy: Int?, _ xx: Int?) -> Float {
            guard let yy, let xx else { return fill }
            return src[yy * w + xx]
        }
        if nearest { return at(source(Int(sy.rounded()), h), source(Int(sx.rounded()), w)) }
        let (fx0, fy0) = (sx.rounded(.down), sy.rounded(.down))
        let (x0, y0) = (Int(fx0), Int(fy0))
        let (c0, c1) = (source(x0, w), source(x0 + 1, w))
        let (r0, r1) = (source(y0, h), source(y0 + 1, h))
        return Augmentation.bilinear(at(r0, c0), at(r0, c1), at(r1, c0), at(r1, c1), sx - fx0, sy - fy0)
    }

    /// Bilinear interpolation between a pixel's four neighbours (top left, top right, bottom left, bottom right).
    @inline(__always)
    static func bilinear(_ tl: Float, _ tr: Float, _ bl: Float, _ br: Float, _ fx: Float, _ fy: Float) -> Float {
        let top = tl * (1 - fx) + tr * fx
        let bottom = bl * (1 - fx) + br * fx
        return top * (1 - fy) + bottom * fy
    }
}
