import Foundation
import UNetCore

/// Training-time augmentation: one random affine transform (rotation, shear, zoom, shift, horizontal flip)
/// applied identically to an image and its mask, then brightness and contrast on the image alone.
///
/// The settings read as Keras' ImageDataGenerator's: `rotation` and `shear` in degrees (ranges ±value),
/// `zoom` 0.2 means a scale in [0.8, 1.2], `shift` a fraction of the size. The reference pipeline
/// (rescale 1/255, shear 0.2, zoom 0.2, horizontal flip) is `{"shear": 0.2, "zoom": 0.2, "horizontal_flip": true}`
/// with the dataset's default [0, 1] scaling. Pixels mapped from outside the image take the nearest edge pixel
/// (Keras' fill_mode "nearest"); masks are resampled with nearest neighbour, so they stay 0/1.
public struct Augmentation: Codable, Equatable, Sendable {
    public var rotation: Float = 0
    public var shear: Float = 0
    public var zoom: Float = 0
    public var shift: Float = 0
    public var horizontalFlip = false
    /// Brightness: add a uniform offset in ±`brightness` × 255. Contrast: scale about the mean by 1 ± `contrast`.
    public var brightness: Float = 0
    public var contrast: Float = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case rotation, shear, zoom, shift, horizontalFlip = "horizontal_flip", brightness, contrast
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rotation = try c.decodeIfPresent(Float.self, forKey: .rotation) ?? 0
        shear = try c.decodeIfPresent(Float.self, forKey: .shear) ?? 0
        zoom = try c.decodeIfPresent(Float.self, forKey: .zoom) ?? 0
        shift = try c.decodeIfPresent(Float.self, forKey: .shift) ?? 0
        horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? false
        brightness = try c.decodeIfPresent(Float.self, forKey: .brightness) ?? 0
        contrast = try c.decodeIfPresent(Float.self, forKey: .contrast) ?? 0
    }

    public var isIdentity: Bool {
        rotation == 0 && shear == 0 && zoom == 0 && shift == 0 && !horizontalFlip && brightness == 0 && contrast == 0
    }

    /// Checks ranges; the error names the setting.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ why: String) throws { if !ok { throw ConfigError(field: field, reason: why) } }
        try check((0...180).contains(rotation), "augment.rotation", "must be in 0...180 degrees")
        try check((0...60).contains(shear), "augment.shear", "must be in 0...60 degrees")
        try check((0...0.99).contains(zoom), "augment.zoom", "must be in 0...0.99")
        try check((0...0.5).contains(shift), "augment.shift", "must be in 0...0.5")
        try check((0...1).contains(brightness), "augment.brightness", "must be in 0...1")
        try check((0...0.99).contains(contrast), "augment.contrast", "must be in 0...0.99")
    }

    /// The transform for one sample, drawn from `rng`: a 2x3 matrix mapping output pixel centres to input
    /// coordinates (the inverse warp), a brightness offset and a contrast factor.
    struct Draw {
        var inverse: (Float, Float, Float, Float, Float, Float)
        var offset: Float
        var gain: Float
    }

    func draw(height h: Int, width w: Int, rng: inout RandomGenerator) -> Draw {
        let deg = Float.pi / 180
        let theta = rotation > 0 ? rng.uniform(-rotation, rotation) * deg : 0
        let shearAngle = shear > 0 ? rng.uniform(-shear, shear) * deg : 0
        let zx = zoom > 0 ? rng.uniform(1 - zoom, 1 + zoom) : 1
        let zy = zoom > 0 ? rng.uniform(1 - zoom, 1 + zoom) : 1
        let tx = shift > 0 ? rng.uniform(-shift, shift) * Float(w) : 0
        let ty = shift > 0 ? rng.uniform(-shift, shift) * Float(h) : 0
        let flip: Float = horizontalFlip && rng.next() % 2 == 0 ? -1 : 1
        let offset = brightness > 0 ? rng.uniform(-brightness, brightness) * 255 : 0
        let gain = contrast > 0 ? rng.uniform(1 - contrast, 1 + contrast) : 1
        // Forward map about the centre: flip, then zoom, shear, rotate, then shift. Keras composes the same
        // pieces; the inverse is what resampling needs. Input coordinate = A · (output − centre − t) + centre.
        let (c, s) = (cos(theta), sin(theta))
        // M = R · Sh · Z · F, with Sh = [[1, -sin(φ)], [0, cos(φ)]] as Keras writes its shear matrix.
        let sh = (a: Float(1), b: -sin(shearAngle), c: Float(0), d: cos(shearAngle))
        // R · Sh
        let rs = (a: c * sh.a - s * sh.c, b: c * sh.b - s * sh.d, c: s * sh.a + c * sh.c, d: s * sh.b + c * sh.d)
        // · Z · F
        let m = (a: rs.a * zx * flip, b: rs.b * zy, c: rs.c * zx * flip, d: rs.d * zy)
        let det = m.a * m.d - m.b * m.c
        let inv = (a: m.d / det, b: -m.b / det, c: -m.c / det, d: m.a / det)
        let (cx, cy) = (Float(w - 1) / 2, Float(h - 1) / 2)
        // x_in = inv · (x_out − centre − t) + centre
        let ex = cx - inv.a * (cx + tx) - inv.b * (cy + ty)
        let ey = cy - inv.c * (cx + tx) - inv.d * (cy + ty)
        return Draw(inverse: (inv.a, inv.b, ex, inv.c, inv.d, ey), offset: offset, gain: gain)
    }

    /// Augments an image and (optionally) its mask with one draw from `rng`.
    public func apply(_ image: Image, mask: Image?, rng: inout RandomGenerator) -> (Image, Image?) {
        if isIdentity { return (image, mask) }
        let d = draw(height: image.height, width: image.width, rng: &rng)
        var out = warp(image, d.inverse, nearest: false)
        if d.offset != 0 || d.gain != 1 {
            let plane = out.height * out.width
            for ch in 0..<out.channels {
                var mean: Float = 0
                for i in 0..<plane { mean += out.pixels[ch * plane + i] }
                mean /= Float(plane)
                for i in 0..<plane {
                    let v = (out.pixels[ch * plane + i] - mean) * d.gain + mean + d.offset
                    out.pixels[ch * plane + i] = min(max(v, 0), 255)
                }
            }
        }
        // The mask has the image's size (both were fitted to the input), so the same inverse map aligns them.
        return (out, mask.map { warp($0, d.inverse, nearest: true) })
    }

    /// Resamples `image` at `A · (x, y, 1)` for every output pixel (x, y), clamping to the edge.
    func warp(_ image: Image, _ a: (Float, Float, Float, Float, Float, Float), nearest: Bool) -> Image {
        let (h, w) = (image.height, image.width)
        var out = Image(channels: image.channels, height: h, width: w)
        let plane = h * w
        image.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    for x in 0..<w {
                        let sx = min(max(a.0 * Float(x) + a.1 * Float(y) + a.2, 0), Float(w - 1))
                        let sy = min(max(a.3 * Float(x) + a.4 * Float(y) + a.5, 0), Float(h - 1))
                        for ch in 0..<image.channels {
                            let base = ch * plane
                            if nearest {
                                dst[base + y * w + x] = src[base + Int(sy.rounded()) * w + Int(sx.rounded())]
                            } else {
                                let (x0, y0) = (Int(sx), Int(sy))
                                let (x1, y1) = (min(x0 + 1, w - 1), min(y0 + 1, h - 1))
                                let (fx, fy) = (sx - Float(x0), sy - Float(y0))
                                let top = src[base + y0 * w + x0] * (1 - fx) + src[base + y0 * w + x1] * fx
                                let bottom = src[base + y1 * w + x0] * (1 - fx) + src[base + y1 * w + x1] * fx
                                dst[base + y * w + x] = top * (1 - fy) + bottom * fy
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
