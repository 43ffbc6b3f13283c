/// Bilinear resampling of (N, C, h, w) planes to (N, C, H, W) with PyTorch's `interpolate(mode="bilinear",
/// align_corners=False)` arithmetic: pixel centres at half-integers, source coordinates clamped at 0 and at the
/// last row and column. Grad-CAM upsamples its coarse map to the image this way, as the reference does.
public enum BilinearResize {
    public static func resize(_ t: Tensor, height: Int, width: Int) -> Tensor {
        let (planes, h, w) = (t.shape[0] * t.shape[1], t.shape[2], t.shape[3])
        let out = Tensor(zeros: [t.shape[0], t.shape[1], height, width])
        let rows = taps(source: h, target: height), columns = taps(source: w, target: width)
        for plane in 0..<planes {
            let src = t.data + plane * h * w, dst = out.data + plane * height * width
            for (y, row) in rows.enumerated() {
                for (x, column) in columns.enumerated() {
                    let top =
                        (1 - column.weight) * src[row.low * w + column.low] + column.weight
                        * src[row.low * w + column.high]
                    let bottom =
                        (1 - column.weight) * src[row.high * w + column.low]
                        + column.weight * src[row.high * w + column.high]
                    dst[y * width + x] = (1 - row.weight) * top + row.weight * bottom
                }
            }
        }
        return out
    }

    /// For each target index, the two source indices and the weight of the second.
    static func taps(source n: Int, target m: Int) -> [(low: Int, high: Int, weight: Float)] {
        let scale = Float(n) / Float(m)
        return (0..<m).map { i in
            let s = max(scale * (Float(i) + 0.5) - 0.5, 0)
            let low = min(Int(s), n - 1)
            let high = min(low + 1, n - 1)
            return (low, high, s - Float(low))
        }
    }
}
