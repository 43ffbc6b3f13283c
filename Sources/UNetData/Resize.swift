/// How to resample an image to a new size.
public enum ResizeFilter: String, Codable, Sendable {
    /// Area averaging along an axis that shrinks (every source pixel counts, by its overlap: no aliasing of
    /// rib edges or noise), bilinear interpolation along an axis that grows. Half-pixel centres, as Pillow,
    /// OpenCV and PyTorch (`align_corners=False`) use.
    case area
    /// The source pixel whose centre is nearest; for masks and label maps, which must not be blended.
    case nearest
}

/// One output position's source taps along one axis: `weights[k]` multiplies source index `start + k`.
struct ResampleTaps {
    var start: Int
    var weights: [Float]
}

enum Resampler {
    /// The taps that map `source` samples to `target` samples along one axis.
    static func taps(source n: Int, target m: Int, filter: ResizeFilter) -> [ResampleTaps] {
        precondition(n > 0 && m > 0, "resize from \(n) to \(m)")
        let scale = Double(n) / Double(m)
        return (0..<m).map { i in
            if filter == .nearest {
                return ResampleTaps(start: min(Int((Double(i) + 0.5) * scale), n - 1), weights: [1])
            }
            if n == m { return ResampleTaps(start: i, weights: [1]) }
            if m < n {
                // Area: output i covers source interval [i * scale, (i + 1) * scale).
                let lo = Double(i) * scale, hi = Double(i + 1) * scale
                let first = Int(lo), last = min(Int(hi.rounded(.up)) - 1, n - 1)
                let weights = (first...last).map { j in
                    Float((min(Double(j + 1), hi) - max(Double(j), lo)) / scale)
                }
                return ResampleTaps(start: first, weights: weights)
            }
            // Bilinear: the centre of output i sits at source coordinate (i + 0.5) * scale - 0.5.
            let x = min(max((Double(i) + 0.5) * scale - 0.5, 0), Double(n - 1))
            let j = Int(x), t = Float(x - Double(j))
            return j + 1 < n ? ResampleTaps(start: j, weights: [1 - t, t]) : ResampleTaps(start: j, weights: [1])
        }
    }
}

extension Image {
    /// The image resampled to `height` x `width`, separably: rows first, then columns.
    public func resized(height newHeight: Int, width newWidth: Int, filter: ResizeFilter = .area) -> Image {
        if newHeight == height && newWidth == width { return self }
        let xTaps = Resampler.taps(source: width, target: newWidth, filter: filter)
        let yTaps = Resampler.taps(source: height, target: newHeight, filter: filter)
        // pixels is (C, H, W) -> rows is (C, H, newW) -> out is (C, newH, newW)
        var rows = [Float](repeating: 0, count: channels * height * newWidth)
        pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                for r in 0..<(channels * height) {
                    let s = src.baseAddress! + r * width, d = dst.baseAddress! + r * newWidth
                    for (x, tap) in xTaps.enumerated() {
                        var acc: Float = 0
                        for k in 0..<tap.weights.count { acc += tap.weights[k] * s[tap.start + k] }
                        d[x] = acc
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: channels * newHeight * newWidth)
        rows.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<channels {
                    for (y, tap) in yTaps.enumerated() {
                        let d = dst.baseAddress! + (c * newHeight + y) * newWidth
                        for k in 0..<tap.weights.count {
                            let w = tap.weights[k]
                            let s = src.baseAddress! + (c * height + tap.start + k) * newWidth
                            for x in 0..<newWidth { d[x] += w * s[x] }
                        }
                    }
                }
            }
        }
        return Image(channels: channels, height: newHeight, width: newWidth, pixels: out)
    }
}
