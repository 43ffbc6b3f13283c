import Foundation
import UNetCore
import UNetData

/// One image of a `predict` or `segment` request, decoded and brought to the model's channel count and value
/// scale, ready to run.
///
/// Accepted forms (exactly one key): `{"array": {"dtype", "shape", "data"}}`, `{"path": "..."}` (JPEG, PNG or
/// DICOM, by signature), `{"jpeg": "<base64>"}`, `{"png": "<base64>"}`, `{"dicom": "<base64>"}`. Sizes are checked against the limits before anything is
/// decoded or allocated: a base64 string's length must match the declared shape exactly.
struct ImageInput {
    /// The most images in one request.
    static let maximumImages = 256
    /// The longest side of an image the engine runs a model on (as `Model.validateInput`).
    static let maximumSide = 8192
    /// The most values (C * H * W) in one raw array.
    static let maximumElements = 1 << 26

    /// Model input values (C, H, W), normalised.
    let tensor: Tensor
    /// Size of the image as sent, before any resize: masks come back at this size.
    let originalHeight: Int
    let originalWidth: Int
    /// For images from files, the file name without extension (names the mask written to `output_dir`).
    let stem: String?
    /// For DICOM images, the tags reported with the result.
    var dicom: DICOMTags? = nil
    /// The part of the image (at its original size) the model saw when `harmonize.crop_borders` cut uniform
    /// borders away; a mask is computed for this region and put back in place (`MaskEncoding.uncropped`).
    var region: LetterboxPlacement? = nil

    /// Reads image `index` of `images` for `model`.
    /// - Parameters:
    ///   - resize: bring the image to the model's input height and width (a request's `resize`, default true).
    ///     One rule for every form: a path and the same pixels sent as a uint8 array become the same input
    ///     (resampled by the same code, then normalised), so they give the same mask, and the model sees images
    ///     at the scale it was trained at, as a dataset's images are.
    ///   - normalization: how 0...255 pixels become inputs (uint8 arrays and decoded images; float32 arrays are
    ///     taken as they are).
    ///   - options: the request's `window` and `frame` for deep images (files and uint16 arrays).
    ///   - harmonization: the dataset's border crop, windowing and equalisation, repeated on 0...255 images as
    ///     `Preprocessing.loadSample` does them in training: crop, resize, then the intensity steps.
    static func read(
        _ images: [JSONValue], index: Int, params: ParamsReader, model: Model, resize: Bool,
        normalization: Normalization, options: DecodeOptions = .init(), harmonization: Harmonization = .none
    ) throws -> ImageInput {
        let p = try params.element("images", index, of: images)
        let forms = ["array", "path", "jpeg", "png", "dicom"].filter { p.has($0) }
        guard forms.count == 1 else {
            throw params.invalid(
                "images[\(index)]",
                forms.isEmpty
                    ? "must have one of array, path, jpeg, png, dicom"
                    : "must have only one of \(forms.joined(separator: ", "))")
        }
        let channels = model.config.inputShape[0]
        let target = resize ? (model.config.inputShape[1], model.config.inputShape[2]) : nil
        var result: ImageInput
        if let a = try p.object("array") {
            result = try readArray(
                a, channels: channels, target: target, normalization: normalization,
                options: options, harmonization: harmonization)
            try a.finish()
        } else {
            let (decoded, stem) = try decode(p, channels: channels, options: options)
            result = fromPixels(
                decoded.image, target: target, normalization: normalization, stem: stem,
                harmonization: harmonization)
            result.dicom = decoded.dicom
        }
        try p.finish(known: ["array", "path", "jpeg", "png"])  // only the given form was read
        return result
    }

    /// An image on the 0...255 scale (decoded, or a uint8 array of 1 or 3 channels), already at the model's
    /// channel count: resampled to `target` (area filter) when given, then normalised. Encoded images and uint8
    /// arrays both come through here, so the same pixels give the same input bit for bit.
    private static func fromPixels(
        _ image: UNetData.Image, target: (Int, Int)?, normalization: Normalization, stem: String?,
        harmonization: Harmonization
    ) -> ImageInput {
        let region = harmonization.cropRegion(of: image)
        let kept = region.map { image.cropped(to: $0) } ?? image
        let sized = harmonization.adjusted(
            target.map { kept.resized(height: $0.0, width: $0.1, filter: .area) } ?? kept)
        let t = Tensor(zeros: [sized.channels, sized.height, sized.width])
        normalization.apply(sized, into: t.data)
        return ImageInput(
            tensor: t, originalHeight: image.height, originalWidth: image.width, stem: stem,
            region: region)
    }

    /// Decodes a path, jpeg, png or dicom form with UNetData, as 1 or 3 channels.
    private static func decode(
        _ p: ParamsReader, channels: Int, options: DecodeOptions
    ) throws -> (DecodedImage, String?) {
        guard channels == 1 || channels == 3 else {
            throw RPCError.shapeMismatch(
                "the model takes \(channels) channels; encoded images give 1 or 3: send an array")
        }
        if let path = try p.path("path") {
            guard FileManager.default.fileExists(atPath: path) else { throw RPCError.fileNotFound(path) }
            return (
                try ImageDecoder.decodeWithTags(path: path, channels: channels, options: options),
                MaskFiles.stem(ofPath: path)
            )
        }
        let key = ["jpeg", "png", "dicom"].first { p.has($0) }!
        let text = try p.string(key) ?? ""
        guard let bytes = Data(base64Encoded: text) else { throw p.invalid(key, "is not valid base64") }
        let decoded = try [UInt8](bytes).withUnsafeBytes {
            try ImageDecoder.decodeWithTags($0, channels: channels, options: options, path: "<\(key)>")
        }
        return (decoded, nil)
    }

    /// A raw array: `dtype` "uint8" (0...255, normalised like decoded images), "uint16" (deep samples, windowed
    /// as a 16-bit PNG of the same values is) or "float32" (used as is), `shape` [H, W] or [C, H, W], `data`
    /// base64 of the little-endian values, planar (C, H, W) row-major; resampled to `target` when given.
    private static func readArray(
        _ a: ParamsReader, channels: Int, target: (Int, Int)?, normalization: Normalization, options: DecodeOptions,
        harmonization: Harmonization
    ) throws -> ImageInput {
        let raw = try RawArray.read(a, ranks: 2...3)
        let (dtype, values) = (raw.dtype, raw.values)
        let (c, h, w) = (raw.shape[0], raw.shape[1], raw.shape[2])
        guard !values.contains(where: { !$0.isFinite }) else { throw a.invalid("data", "contains NaN or infinity") }
        if dtype == .uint16 {
            guard c == 1 || c == 3, channels == 1 || channels == 3 else {
                throw a.invalid("shape", "a uint16 image has 1 or 3 channels for a model of 1 or 3, got \(c)")
            }
            var image = UNetData.Image(channels: c, height: h, width: w, pixels: values)
            (options.window ?? Window.fullScale(bits: nil, largest: values.max() ?? 0)).apply(to: &image)
            return fromPixels(
                image.withChannels(channels), target: target, normalization: normalization, stem: nil,
                harmonization: harmonization)
        }
        if dtype == .uint8, c == 1 || c == 3, channels == 1 || channels == 3 {
            let image = UNetData.Image(channels: c, height: h, width: w, pixels: values).withChannels(channels)
            return fromPixels(
                image, target: target, normalization: normalization, stem: nil,
                harmonization: harmonization)
        }
        let t = Tensor(zeros: [channels, h, w])
        if dtype == .uint8 {
            guard c == channels else { throw channelMismatch(c, channels) }
            for i in 0..<values.count { t.data[i] = values[i] / 255 }
        } else {
            if c == channels {
                values.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: $0.count) }
            } else if c == 1 || c == 3, channels == 1 || channels == 3 {
                let image = UNetData.Image(channels: c, height: h, width: w, pixels: values).withChannels(channels)
                image.pixels.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: $0.count) }
            } else {
                throw channelMismatch(c, channels)
            }
        }
        let input = ImageInput(tensor: t, originalHeight: h, originalWidth: w, stem: nil)
        return target.map { input.resized(to: $0) } ?? input
    }

    private static func channelMismatch(_ got: Int, _ expected: Int) -> RPCError {
        .shapeMismatch("the model takes \(expected) channels, the array has \(got)")
    }

    /// This image resampled to `size` (area filter), channel by channel.
    private func resized(to size: (Int, Int)) -> ImageInput {
        let (c, h, w) = (tensor.shape[0], tensor.shape[1], tensor.shape[2])
        if (h, w) == size { return self }
        let out = Tensor(zeros: [c, size.0, size.1])
        for ch in 0..<c {
            let plane = UNetData.Image(
                channels: 1, height: h, width: w,
                pixels: Array(UnsafeBufferPointer(start: tensor.data + ch * h * w, count: h * w)))
            let r = plane.resized(height: size.0, width: size.1, filter: .area)
            r.pixels.withUnsafeBufferPointer {
                (out.data + ch * size.0 * size.1).update(from: $0.baseAddress!, count: $0.count)
            }
        }
        return ImageInput(tensor: out, originalHeight: originalHeight, originalWidth: originalWidth, stem: stem)
    }
}

/// A raw array param, `{"dtype": "uint8"|"uint16"|"float32", "shape": [...], "data": base64 little-endian}`,
/// checked and decoded: images (`ImageInput`) and inline masks (`InlineBatch`) share it.
struct RawArray {
    /// A raw array's element type, by its name on the wire.
    enum DType: String, CaseIterable {
        case uint8, uint16, float32

        var byteWidth: Int {
            switch self {
            case .uint8: 1
            case .uint16: 2
            case .float32: 4
            }
        }
    }

    let dtype: DType
    /// [C, H, W]; a rank-2 shape [H, W] reads as one channel.
    let shape: [Int]
    /// The values as floats (uint8 values stay 0...255, uint16 ones 0...65535).
    let values: [Float]

    /// - Parameter dtypes: the element types the caller takes (inline masks take no uint16).
    static func read(
        _ a: ParamsReader, ranks: ClosedRange<Int>, dtypes: [DType] = DType.allCases
    ) throws -> RawArray {
        let name = try a.string("dtype", oneOf: dtypes.map(\.rawValue)) ?? { throw a.invalid("dtype", "is required") }()
        let dtype = DType(rawValue: name)!  // one of `dtypes`
        guard let shape = try a.intArray("shape", count: ranks, each: 1...ImageInput.maximumSide) else {
            throw a.invalid("shape", "is required")
        }
        let (c, h, w) = shape.count == 2 ? (1, shape[0], shape[1]) : (shape[0], shape[1], shape[2])
        guard c <= 64 else { throw a.invalid("shape", "channels must be in 1...64, got \(c)") }
        guard c * h * w <= ImageInput.maximumElements else {
            throw a.invalid("shape", "has \(c * h * w) values; the limit is \(ImageInput.maximumElements)")
        }
        let byteWidth = dtype.byteWidth
        let byteCount = c * h * w * byteWidth
        let text = try a.string("data") ?? { throw a.invalid("data", "is required") }()
        // Check the length before decoding, so a wrong shape costs nothing.
        guard text.utf8.count == (byteCount + 2) / 3 * 4 else {
            throw a.invalid(
                "data",
                "has \(text.utf8.count) base64 characters; \(name) \(shape) needs \(byteCount) bytes "
                    + "(\((byteCount + 2) / 3 * 4) characters)")
        }
        guard let bytes = Data(base64Encoded: text), bytes.count == byteCount else {
            throw a.invalid("data", "is not valid base64")
        }
        // values is (c, h, w)
        var values = [Float](repeating: 0, count: c * h * w)
        bytes.withUnsafeBytes { raw in
            if byteWidth == 1 {
                for i in 0..<values.count { values[i] = Float(raw[i]) }
            } else if byteWidth == 2 {
                for i in 0..<values.count {
                    values[i] = Float(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            } else {
                for i in 0..<values.count {
                    values[i] = Float(
                        bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            }
        }
        return RawArray(dtype: dtype, shape: [c, h, w], values: values)
    }
}
