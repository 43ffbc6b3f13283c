import Foundation
import UNetCore

/// The augmentations for a change of scanner or hospital (issue 22): elastic deformation and random letterbox
/// bands (geometric: image and mask alike), then gamma, blur and noise (the image alone). They run after the
/// affine transform and the brightness and contrast of `Augmentation.apply`, each from the same generator, in
/// this fixed order, so a seed repeats them bit for bit.
extension Augmentation {
    var hasShiftSteps: Bool { gammaRange != nil || noise > 0 || blur > 0 || letterboxPad > 0 || elasticAlpha > 0 }

    func validateShiftSteps(_ check: (Bool, String, String) throws -> Void) throws {
        if let g = gammaRange {
            try check(
                g.count == 2 && g[0] >= 0.1 && g[0] <= g[1] && g[1] <= 10, "augment.gamma",
                "must be [lo, hi] with 0.1 <= lo <= hi <= 10")
        }
        try check((0...0.5).contains(noise), "augment.noise", "must be in 0...0.5 (a fraction of 255)")
        try check((0...16).contains(blur), "augment.blur", "must be in 0...16 pixels")
        try check((0...0.5).contains(letterboxPad), "augment.letterbox_pad", "must be in 0...0.5")
        try check((0...1000).contains(elasticAlpha), "augment.elastic.alpha", "must be in 0...1000 pixels")
        try check((1...64).contains(elasticSigma), "augment.elastic.sigma", "must be in 1...64 pixels")
    }

    func shiftSteps(_ image: Image, _ mask: Image?, rng: inout RandomGenerator) -> (Image, Image?) {
        var (x, m) = (image, mask)
        if elasticAlpha > 0 { (x, m) = elastic(x, m, rng: &rng) }
        if letterboxPad > 0 {
            let on = rng.next() % 2 == 0, acrossRows = rng.next() % 2 == 0
            let fraction = rng.uniform(0, letterboxPad)
            if on { (x, m) = Augmentation.letterboxBands(x, m, fraction: fraction, acrossRows: acrossRows) }
        }
        if let g = gammaRange {
            let gamma = exp(rng.uniform(log(g[0]), log(g[1])))
            for i in x.pixels.indices { x.pixels[i] = 255 * pow(min(max(x.pixels[i], 0), 255) / 255, gamma) }
        }
        if blur > 0 { x = x.gaussianBlurred(sigma: rng.uniform(0, blur)) }
        if noise > 0 {
            let std = rng.uniform(0, noise) * 255
            for i in x.pixels.indices { x.pixels[i] = min(max(x.pixels[i] + std * rng.normal(), 0), 255) }
        }
        return (x, m)
    }

    /// The image shrunk by `fraction` across rows (bands top and bottom) or columns (left and right), centred on
    /// black; the mask alike (nearest neighbour), its bands background.
    static func letterboxBands(_ image: Image, _ mask: Image?, fraction: Float, acrossRows: Bool) -> (Image, Image?) {
        let (h, w) = (image.height, image.width)
        let kept =
            acrossRows
            ? LetterboxPlacement(top: 0, left: 0, height: max(1, Int((Float(h) * (1 - fraction)).rounded())), width: w)
            : LetterboxPlacement(top: 0, left: 0, height: h, width: max(1, Int((Float(w) * (1 - fraction)).rounded())))
        let region = LetterboxPlacement(
            top: (h - kept.height) / 2, left: (w - kept.width) / 2,
            height: kept.height, width: kept.width)
        func place(_ i: Image, _ filter: ResizeFilter) -> Image {
            i.resized(height: region.height, width: region.width, filter: filter).uncropped(
                height: h, width: w, at: region)
        }
        return (place(image, .area), mask.map { place($0, .nearest) })
    }

    /// One random smooth displacement field, the image resampled bilinearly and the mask by nearest neighbour.
    func elastic(_ image: Image, _ mask: Image?, rng: inout RandomGenerator) -> (Image, Image?) {
        let (h, w) = (image.height, image.width)
        func field(_ rng: inout RandomGenerator) -> [Float] {
            let raw = Image(channels: 1, height: h, width: w, pixels: (0..<(h * w)).map { _ in rng.uniform(-1, 1) })
            return raw.gaussianBlurred(sigma: elasticSigma).pixels.map { $0 * elasticAlpha }
        }
        let dx = field(&rng), dy = field(&rng)
        func resample(_ source: Image, nearest: Bool) -> Image {
            var out = source
            let plane = h * w
            source.pixels.withUnsafeBufferPointer { src in
                for ch in 0..<source.channels {
                    let channel = UnsafeBufferPointer(rebasing: src[(ch * plane)..<((ch + 1) * plane)])
                    for y in 0..<h {
                        for x in 0..<w {
                            let i = y * w + x
                            out.pixels[ch * plane + i] = sampleClamped(
                                channel, Float(x) + dx[i], Float(y) + dy[i], h, w,
                                nearest: nearest)
                        }
                    }
                }
            }
            return out
        }
        return (resample(image, nearest: false), mask.map { resample($0, nearest: true) })
    }
}
