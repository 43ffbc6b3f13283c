import UNetCore

extension Image {
    /// The `height` x `width` window whose top-left corner is (`top`, `left`), every channel.
    /// - Precondition: the window lies inside the image.
    public func cropped(top: Int, left: Int, height h: Int, width w: Int) -> Image {
        precondition(top >= 0 && left >= 0 && top + h <= height && left + w <= width, "crop outside the image")
        var out = [Float](repeating: 0, count: channels * h * w)
        pixels.withUnsafeBufferPointer { src in
            for c in 0..<channels {
                for y in 0..<h {
                    let from = (c * height + top + y) * width + left
                    for x in 0..<w { out[(c * h + y) * w + x] = src[from + x] }
                }
            }
        }
        return Image(channels: channels, height: h, width: w, pixels: out)
    }
}

extension Preprocessing {
    /// `dataset.open`'s `tile` sampling: a window of the input size at a position drawn from `rng`, cut from the
    /// full-resolution image and the same window of its mask, so a set of large images trains on input-sized
    /// crops without resizing the detail away. An image smaller than the input on a side is fitted (resized)
    /// as without tiles, with its mask.
    public func randomCrop(_ image: Image, mask: Image?, rng: inout RandomGenerator) -> (Image, Image?) {
        guard image.height >= height, image.width >= width else {
            return (fit(image, filter: .area), mask.map { fit($0, filter: .nearest) })
        }
        let top = Int(rng.next() % UInt64(image.height - height + 1))
        let left = Int(rng.next() % UInt64(image.width - width + 1))
        return (
            image.cropped(top: top, left: left, height: height, width: width),
            mask.map { $0.cropped(top: top, left: left, height: height, width: width) }
        )
    }
}
