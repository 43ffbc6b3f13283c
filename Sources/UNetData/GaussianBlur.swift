import Foundation

extension Image {
    /// Every channel convolved with a Gaussian of standard deviation `sigma` pixels, separably, the kernel cut at
    /// 4 sigma and edges reflected (scipy.ndimage.gaussian_filter's defaults, truncate 4 and mode "reflect").
    /// A sigma below 0.01 returns the image unchanged.
    public func gaussianBlurred(sigma: Float) -> Image {
        guard sigma >= 0.01, height > 0, width > 0 else { return self }
        let radius = Int((4 * sigma + 0.5).rounded(.down))
        var kernel = (-radius...radius).map { d in exp(-Float(d * d) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        for i in kernel.indices { kernel[i] /= total }
        /// Reflection about the edge, the edge pixel repeated (d c b a | a b c d | d c b a).
        func reflect(_ i: Int, _ n: Int) -> Int {
            let m = (i % (2 * n) + 2 * n) % (2 * n)
            return m < n ? m : 2 * n - 1 - m
        }
        var out = self, tmp = pixels
        let plane = height * width
        for c in 0..<channels {
            let base = c * plane
            for y in 0..<height {
                for x in 0..<width {
                    var s: Float = 0
                    for k in 0..<kernel.count {
                        s += kernel[k] * pixels[base + y * width + reflect(x + k - radius, width)]
                    }
                    tmp[base + y * width + x] = s
                }
            }
            for y in 0..<height {
                for x in 0..<width {
                    var s: Float = 0
                    for k in 0..<kernel.count {
                        s += kernel[k] * tmp[base + reflect(y + k - radius, height) * width + x]
                    }
                    out.pixels[base + y * width + x] = s
                }
            }
        }
        return out
    }
}
