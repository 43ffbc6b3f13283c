/// Global histogram equalisation, as scikit-image's `exposure.equalize_hist` defines it for 8-bit images: each
/// value becomes the fraction of the channel's pixels at or below it (here on the 0...255 scale).
///
/// Exposure and detector response differ between scanners; equalisation maps every image onto the same flat
/// distribution of grey levels, so a darker hospital's images look like the training images' ranks.
extension Image {
    /// Values are rounded to the 256 levels of 0...255 before counting (a resized image has fractional values).
    public func histogramEqualized() -> Image {
        var out = self
        let plane = height * width
        guard plane > 0 else { return out }
        for c in 0..<channels {
            let range = (c * plane)..<((c + 1) * plane)
            var counts = [Int](repeating: 0, count: 256)
            for i in range { counts[Image.level(pixels[i])] += 1 }
            var cdf = [Float](repeating: 0, count: 256), running = 0
            for v in 0..<256 { running += counts[v]; cdf[v] = Float(Double(running) / Double(plane) * 255) }
            for i in range { out.pixels[i] = cdf[Image.level(pixels[i])] }
        }
        return out
    }

    /// The 8-bit level (0...255) of a value on the 0...255 scale: rounded and clamped.
    @inline(__always)
    static func level(_ v: Float) -> Int { Int(min(max(v.rounded(), 0), 255)) }
}
