/// Where a letterboxed image sits inside its padded canvas, so that a prediction can be cropped back and
/// resized to the original image.
public struct LetterboxPlacement: Equatable, Codable, Sendable {
    public var top: Int
    public var left: Int
    public var height: Int
    public var width: Int

    public init(top: Int, left: Int, height: Int, width: Int) {
        self.top = top; self.left = left; self.height = height; self.width = width
    }
}

extension Image {
    /// The image scaled to fit inside `height` x `width` with its aspect ratio kept, centred on a canvas of
    /// `fill` (black by default). Radiographs are rarely square; squashing them distorts heart and lung shapes.
    public func letterboxed(
        height newHeight: Int, width newWidth: Int, fill: Float = 0,
        filter: ResizeFilter = .area
    ) -> (image: Image, placement: LetterboxPlacement) {
        let scale = min(Double(newHeight) / Double(height), Double(newWidth) / Double(width))
        let h = min(newHeight, max(1, Int((Double(height) * scale).rounded())))
        let w = min(newWidth, max(1, Int((Double(width) * scale).rounded())))
        let inner = resized(height: h, width: w, filter: filter)
        let top = (newHeight - h) / 2, left = (newWidth - w) / 2
        var canvas = Image(channels: channels, height: newHeight, width: newWidth, repeating: fill)
        for c in 0..<channels {
            for y in 0..<h {
                let src = (c * h + y) * w, dst = (c * newHeight + top + y) * newWidth + left
                canvas.pixels.replaceSubrange(dst..<(dst + w), with: inner.pixels[src..<(src + w)])
            }
        }
        return (canvas, LetterboxPlacement(top: top, left: left, height: h, width: w))
    }
}
