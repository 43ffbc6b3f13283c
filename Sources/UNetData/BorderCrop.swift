/// Finding and removing uniform borders: the black (or white) bands a letterboxed or padded radiograph carries.
///
/// Another hospital's images may arrive letterboxed to 4:3 or padded by the scanner; resized as they are, the
/// chest fills less of the input than in training. Cropping the bands first gives the network the chest at the
/// scale it learned, and the mask is put back where the chest was (`uncropped`).
public enum BorderCrop {
    /// A band may take at most this fraction of a side, so a dark image is never cropped to nothing.
    public static let maximumFraction = 0.35

    /// The region inside the uniform rows and columns at the edges of `image`: a row (column) belongs to a band
    /// when all its values, in every channel, lie within `tolerance` (0...255 scale) of each other. Rows are
    /// peeled from the top and bottom first, then columns over the remaining rows.
    public static func region(of image: Image, tolerance: Float) -> LetterboxPlacement {
        let (h, w, plane) = (image.height, image.width, image.height * image.width)
        func uniform(rows: Range<Int>, columns: Range<Int>) -> Bool {
            var low = Float.infinity, high = -Float.infinity
            for c in 0..<image.channels {
                for y in rows {
                    for x in columns {
                        let v = image.pixels[c * plane + y * w + x]
                        low = min(low, v); high = max(high, v)
                    }
                }
            }
            return high - low <= tolerance
        }
        let maxRows = Int(Double(h) * maximumFraction), maxColumns = Int(Double(w) * maximumFraction)
        var top = 0, bottom = 0
        while top < maxRows, uniform(rows: top..<(top + 1), columns: 0..<w) { top += 1 }
        while bottom < maxRows, uniform(rows: (h - 1 - bottom)..<(h - bottom), columns: 0..<w) { bottom += 1 }
        let rows = top..<(h - bottom)
        var left = 0, right = 0
        while left < maxColumns, uniform(rows: rows, columns: left..<(left + 1)) { left += 1 }
        while right < maxColumns, uniform(rows: rows, columns: (w - 1 - right)..<(w - right)) { right += 1 }
        return LetterboxPlacement(top: top, left: left, height: h - top - bottom, width: w - left - right)
    }
}

extension LetterboxPlacement {
    /// The same region on an image of another size (a mask at full resolution beside a DCT-scaled image).
    public func scaled(from source: (height: Int, width: Int), to target: (height: Int, width: Int)) -> Self {
        if source == target { return self }
        let sy = Double(target.height) / Double(source.height), sx = Double(target.width) / Double(source.width)
        let t = min(Int((Double(top) * sy).rounded()), target.height - 1)
        let l = min(Int((Double(left) * sx).rounded()), target.width - 1)
        let b = min(Int((Double(top + height) * sy).rounded()), target.height)
        let r = min(Int((Double(left + width) * sx).rounded()), target.width)
        return LetterboxPlacement(top: t, left: l, height: max(b - t, 1), width: max(r - l, 1))
    }

    /// Whether the region is the whole `height` x `width` image.
    public func covers(height h: Int, width w: Int) -> Bool { top == 0 && left == 0 && height == h && width == w }
}

extension Image {
    /// The region `r` of the image (every channel).
    public func cropped(to r: LetterboxPlacement) -> Image {
        cropped(top: r.top, left: r.left, height: r.height, width: r.width)
    }

    /// Undoes a crop: this image (the region's size) placed at `r` on a `height` x `width` canvas of `fill`.
    public func uncropped(height h: Int, width w: Int, at r: LetterboxPlacement, fill: Float = 0) -> Image {
        precondition(self.height == r.height && self.width == r.width, "image and region differ in size")
        var canvas = Image(channels: channels, height: h, width: w, repeating: fill)
        for c in 0..<channels {
            for y in 0..<r.height {
                let src = (c * r.height + y) * r.width, dst = (c * h + r.top + y) * w + r.left
                canvas.pixels.replaceSubrange(dst..<(dst + r.width), with: pixels[src..<(src + r.width)])
            }
        }
        return canvas
    }
}
