extension Image {
    /// One channel: the ITU-R 601 luma of an RGB image (as Pillow's `convert("L")`), or `self` if already grey.
    public func greyscale() -> Image {
        if channels == 1 { return self }
        let plane = height * width
        var out = [Float](repeating: 0, count: plane)
        pixels.withUnsafeBufferPointer { p in
            for i in 0..<plane { out[i] = 0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i] }
        }
        return Image(channels: 1, height: height, width: width, pixels: out)
    }

    /// Three channels: a grey image repeated into R, G and B (ImageNet-style models expect RGB), or `self`.
    public func rgb() -> Image {
        if channels == 3 { return self }
        return Image(channels: 3, height: height, width: width, pixels: pixels + pixels + pixels)
    }

    /// The image with `count` channels (1 or 3).
    public func withChannels(_ count: Int) -> Image {
        precondition(count == 1 || count == 3, "channels must be 1 or 3, not \(count)")
        return count == 1 ? greyscale() : rgb()
    }
}
