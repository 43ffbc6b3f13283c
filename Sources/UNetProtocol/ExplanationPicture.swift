import UNetCore
import UNetData

/// The pictures `explain` draws: the map as an 8-bit grey PNG, and the overlay of the map on the image.
///
/// The image is the one the model saw (its input tensor, channels averaged, min-max scaled to 0...255) resized
/// to the image's own size, so the overlay needs no inverse of the normalisation. The heat overlay blends the
/// map's jet colour half and half with the image; with a threshold, the pixels of map >= threshold are painted
/// pure green (0, 255, 0) on the image instead, as the Eff-UNet reference paints its 0.97 segmentation.
enum ExplanationPicture {
    /// `map` (H, W) values as bytes: clipped to [0, 1] and scaled to 0...255.
    static func bytes(_ map: [Float]) -> [UInt8] { map.map { UInt8((min(max($0, 0), 1) * 255).rounded()) } }

    /// `values` min-max scaled to [0, 1] (all zeros when they are all equal).
    static func minMax(_ values: [Float]) -> [Float] {
        guard let low = values.min(), let high = values.max(), high > low else {
            return [Float](repeating: 0, count: values.count)
        }
        return values.map { ($0 - low) / (high - low) }
    }

    /// The RGB overlay at (height, width) of `map` (values in [0, 1]) on `input` (C, h, w): a heat overlay, or
    /// green pixels where `mask` is set.
    static func overlay(input: Tensor, map: [Float], mask: [Bool]?, height: Int, width: Int) throws -> [UInt8] {
        let (c, h, w) = (input.shape[0], input.shape[1], input.shape[2])
        var grey = [Float](repeating: 0, count: h * w)
        for k in 0..<c { for p in 0..<(h * w) { grey[p] += input.data[k * h * w + p] / Float(c) } }
        let image = UNetData.Image(channels: 1, height: h, width: w, pixels: minMax(grey))
            .resized(height: height, width: width, filter: .area)
        var rgb = [UInt8](repeating: 0, count: 3 * height * width)
        for p in 0..<(height * width) {
            let v = min(max(image.pixels[p], 0), 1)
            var colour: (Float, Float, Float)
            if let mask {
                colour = mask[p] ? (0, 1, 0) : (v, v, v)
            } else {
                let heat = jet(map[p])
                colour = (0.5 * v + 0.5 * heat.0, 0.5 * v + 0.5 * heat.1, 0.5 * v + 0.5 * heat.2)
            }
            rgb[3 * p] = UInt8((colour.0 * 255).rounded())
            rgb[3 * p + 1] = UInt8((colour.1 * 255).rounded())
            rgb[3 * p + 2] = UInt8((colour.2 * 255).rounded())
        }
        return try PNGEncoder.encodeRGB(rgb, height: height, width: width)
    }

    /// Matplotlib's jet colour of v in [0, 1]: dark blue through cyan, yellow and red.
    static func jet(_ v: Float) -> (Float, Float, Float) {
        let x = min(max(v, 0), 1)
        func ramp(_ centre: Float) -> Float { min(max(1.5 - abs(4 * x - centre), 0), 1) }
        return (ramp(3), ramp(2), ramp(1))
    }
}
