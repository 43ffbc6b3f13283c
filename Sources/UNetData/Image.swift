/// A decoded image: planar float pixels on the 0...255 scale, laid out (C, H, W) like one item of a tensor batch.
///
/// Floats rather than bytes because every step after decoding (area resize, affine warps, brightness) produces
/// fractional values, and deep images keep their precision (a `Window` maps 16-bit or DICOM values onto 0...255
/// without rounding: by default a full-range 16-bit value v is stored as v / 257). Planar
/// rather than interleaved so that a batch is assembled by copying whole planes.
public struct Image: Equatable, Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    /// `channels * height * width` values, plane after plane, row-major within a plane.
    public var pixels: [Float]

    /// - Precondition: `pixels.count == channels * height * width`, `channels` is 1 or 3.
    public init(channels: Int, height: Int, width: Int, pixels: [Float]) {
        precondition(channels == 1 || channels == 3, "an image has 1 or 3 channels, not \(channels)")
        precondition(
            pixels.count == channels * height * width,
            "\(pixels.count) pixels for \(channels)x\(height)x\(width)")
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
    }

    /// A constant image.
    public init(channels: Int, height: Int, width: Int, repeating value: Float = 0) {
        self.init(
            channels: channels, height: height, width: width,
            pixels: [Float](repeating: value, count: channels * height * width))
    }

    /// An image from interleaved bytes (H, W, C), the layout decoders and most file formats use.
    /// Four-channel and two-channel input drops its alpha channel.
    public init(interleaved bytes: UnsafeBufferPointer<UInt8>, channels inChannels: Int, height: Int, width: Int) {
        precondition(bytes.count >= inChannels * height * width)
        let outChannels = inChannels >= 3 ? 3 : 1
        var pixels = [Float](repeating: 0, count: outChannels * height * width)
        let plane = height * width
        pixels.withUnsafeMutableBufferPointer { out in
            // bytes is (H, W, inChannels); out is (outChannels, H, W)
            for i in 0..<plane {
                for c in 0..<outChannels { out[c * plane + i] = Float(bytes[i * inChannels + c]) }
            }
        }
        self.init(channels: outChannels, height: height, width: width, pixels: pixels)
    }

    /// An image from interleaved 16-bit samples (H, W, C), divided by `divisor`: 257 scales to 0...255, 1 keeps
    /// the samples' own units for a `Window` to map.
    public init(
        interleaved16 samples: UnsafeBufferPointer<UInt16>, channels inChannels: Int, height: Int,
        width: Int, divisor: Float = 257
    ) {
        precondition(samples.count >= inChannels * height * width)
        let outChannels = inChannels >= 3 ? 3 : 1
        var pixels = [Float](repeating: 0, count: outChannels * height * width)
        let plane = height * width
        pixels.withUnsafeMutableBufferPointer { out in
            for i in 0..<plane {
                for c in 0..<outChannels { out[c * plane + i] = Float(samples[i * inChannels + c]) / divisor }
            }
        }
        self.init(channels: outChannels, height: height, width: width, pixels: pixels)
    }

    /// An image from a raw array as hosts send it: shape [H, W] or [C, H, W] (C = 1 or 3), planar.
    /// - Parameter scale: multiplies every value, e.g. 255 for float arrays in [0, 1].
    public static func fromArray(
        shape: [Int], values: [Float], scale: Float = 1,
        path: String = "<array>"
    ) throws -> Image {
        let (c, h, w): (Int, Int, Int)
        switch shape.count {
        case 2: (c, h, w) = (1, shape[0], shape[1])
        case 3: (c, h, w) = (shape[0], shape[1], shape[2])
        default: throw ImageError(path: path, reason: .unsupported("array shape \(shape) is not [H, W] or [C, H, W]"))
        }
        guard c == 1 || c == 3 else {
            throw ImageError(path: path, reason: .unsupported("\(c) channels; expected 1 or 3"))
        }
        try ImageLimits.check(width: w, height: h, path: path)
        guard values.count == c * h * w else {
            throw ImageError(path: path, reason: .corrupt("\(values.count) values for shape \(shape)"))
        }
        return Image(channels: c, height: h, width: w, pixels: scale == 1 ? values : values.map { $0 * scale })
    }

    @inline(__always)
    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { pixels[(c * height + y) * width + x] }
        set { pixels[(c * height + y) * width + x] = newValue }
    }

    /// Bytes the pixel buffer occupies.
    public var byteCount: Int { pixels.count * MemoryLayout<Float>.stride }
}
