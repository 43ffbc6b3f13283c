import Foundation
import UNetCore
import UNetData

/// How `segment` returns masks, and the conversions from mask probabilities to what is sent.
///
/// A one-channel (sigmoid) mask becomes 0/255 by `threshold`; a K-channel (softmax) mask becomes the index of
/// the most probable class per pixel (0...K-1). `foreground_fraction` is the share of pixels that are not 0.
public enum MaskEncoding: String, CaseIterable, Sendable {
    /// Base64 of an 8-bit greyscale PNG of the label mask.
    case png
    /// `{"dtype": "uint8", "shape": [H, W], "data": base64}` of the label mask.
    case array
    /// The probabilities as `{"dtype": "float32", "shape": [H, W] or [K, H, W], "data": base64}`, the form of
    /// the `array` encoding and of image arrays: exact, and less than half the size of JSON numbers.
    case probabilities
    /// The probabilities as nested JSON numbers (9 significant digits), [H][W] for one channel, [K][H][W] for
    /// K: what `probabilities` gave before, for hosts that would rather not decode base64.
    case probabilitiesJSON = "probabilities_json"

    /// An (H, W) label mask: 0/255 for a sigmoid mask, class indices for a softmax one.
    struct LabelMask {
        let height: Int
        let width: Int
        let pixels: [UInt8]
        var foregroundFraction: Double {
            Double(pixels.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }) / Double(max(pixels.count, 1))
        }
        func png() throws -> [UInt8] { try PNGEncoder.encodeGrey(pixels, height: height, width: width) }
        /// The `"png"` encoding's value: the PNG, base64.
        func pngBase64() throws -> JSONValue { .string(Data(try png()).base64EncodedString()) }
        /// The `"array"` encoding's value: `{"dtype": "uint8", "shape": [H, W], "data": base64}`.
        var uint8Array: JSONValue {
            [
                "dtype": .string(RawArray.DType.uint8.rawValue), "shape": JSONValue([height, width]),
                "data": .string(Data(pixels).base64EncodedString()),
            ]
        }

        /// A binary (0/255) mask after `post`, at this mask's own size.
        func postprocessed(_ post: MaskPostprocessing) -> LabelMask {
            if post.isIdentity { return self }
            let kept = post.apply(pixels.map { $0 != 0 }, height: height, width: width)
            return LabelMask(height: height, width: width, pixels: kept.map { $0 ? 255 : 0 })
        }
    }

    /// `probs` is (1, K, H, W).
    static func labels(_ probs: Tensor, threshold: Float) -> LabelMask {
        let (k, h, w) = (probs.shape[1], probs.shape[2], probs.shape[3])
        let plane = h * w
        var out = [UInt8](repeating: 0, count: plane)
        if k == 1 {
            for i in 0..<plane where probs.data[i] > threshold { out[i] = 255 }
        } else {
            for i in 0..<plane {
                var best = 0
                for c in 1..<k where probs.data[c * plane + i] > probs.data[best * plane + i] { best = c }
                out[i] = UInt8(min(best, 255))
            }
        }
        return LabelMask(height: h, width: w, pixels: out)
    }

    /// `probs` (N, K, h, w) resampled to (N, K, height, width), bilinear up and area down, plane by plane.
    static func resize(_ probs: Tensor, height: Int, width: Int) -> Tensor {
        let (h, w) = (probs.shape[2], probs.shape[3])
        if h == height && w == width { return probs }
        // Every plane of every image alike: (N, K, H, W) -> (N, K, height, width).
        let planes = probs.shape[0] * probs.shape[1]
        let out = Tensor(zeros: [probs.shape[0], probs.shape[1], height, width])
        for c in 0..<planes {
            let plane = UNetData.Image(
                channels: 1, height: h, width: w,
                pixels: Array(UnsafeBufferPointer(start: probs.data + c * h * w, count: h * w)))
            let r = plane.resized(height: height, width: width, filter: .area)
            r.pixels.withUnsafeBufferPointer {
                (out.data + c * height * width).update(from: $0.baseAddress!, count: $0.count)
            }
        }
        return out
    }

    /// `probs` (1, K, region.height, region.width), computed on a border-cropped image, put back at `region` on the
    /// image's own `height` x `width`: the cropped bands are background (probability 0, or class 0 for K > 1).
    static func uncropped(_ probs: Tensor, height: Int, width: Int, at region: LetterboxPlacement) -> Tensor {
        let (k, h, w) = (probs.shape[1], probs.shape[2], probs.shape[3])
        let out = Tensor(zeros: [1, k, height, width])
        for c in 0..<k {
            let plane = UNetData.Image(
                channels: 1, height: h, width: w,
                pixels: Array(UnsafeBufferPointer(start: probs.data + c * h * w, count: h * w)))
            let placed = plane.uncropped(height: height, width: width, at: region, fill: k > 1 && c == 0 ? 1 : 0)
            placed.pixels.withUnsafeBufferPointer {
                (out.data + c * height * width).update(from: $0.baseAddress!, count: $0.count)
            }
        }
        return out
    }

    /// (1, K, H, W) as a float32 raw array, little-endian: shape [H, W] when K is 1, else [K, H, W].
    static func float32Array(_ probs: Tensor) -> JSONValue {
        let (k, h, w) = (probs.shape[1], probs.shape[2], probs.shape[3])
        let words = (0..<probs.count).map { probs.data[$0].bitPattern.littleEndian }
        return [
            "dtype": .string(RawArray.DType.float32.rawValue), "shape": JSONValue(k == 1 ? [h, w] : [k, h, w]),
            "data": .string(words.withUnsafeBytes { Data($0) }.base64EncodedString()),
        ]
    }

    /// (1, K, H, W) as nested JSON arrays: [H][W] when K is 1, else [K][H][W].
    static func nestedArrays(_ probs: Tensor) -> JSONValue {
        let (k, h, w) = (probs.shape[1], probs.shape[2], probs.shape[3])
        func plane(_ c: Int) -> JSONValue {
            .array((0..<h).map { y in .array((0..<w).map { x in .double(Double(probs.data[(c * h + y) * w + x])) }) })
        }
        return k == 1 ? plane(0) : .array((0..<k).map(plane))
    }
}
