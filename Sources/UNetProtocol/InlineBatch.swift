import Foundation
import UNetCore
import UNetData

/// A training batch sent inline with `train.step`: `images` (image objects, as `predict` takes them) with
/// `labels` (class indices) and/or `masks` (mask objects: `{"array": {"dtype": "uint8"|"float32", "shape": [h, w],
/// "data": ...}}`, `{"png": ...}` or `{"path": ...}`), read as dataset masks are (`MaskFormat.auto`): class indices
/// when every value is below 64, else foreground above 127; float masks of 0...1 are foreground above 0.5.
/// All images are brought to one size: the model's input size (resized) unless `resize` is false, in which case
/// they must already agree.
enum InlineBatch {
    static func read(_ p: ParamsReader, model: Model, session: Session) throws -> Batch {
        let images = try p.requiredArray("images", count: 1...ImageInput.maximumImages)
        let resize = try p[TrainMethods.Step.resize]
        let normalization = session.preprocessing?.normalization ?? .unit
        // The dataset's intensity steps apply to inline images too; a border crop would leave the inline masks
        // behind, so none is made here.
        var harmonization = session.preprocessing?.harmonization ?? .none
        harmonization.cropBorders = false
        var inputs: [ImageInput] = []
        for i in images.indices {
            inputs.append(
                try ImageInput.read(
                    images, index: i, params: p, model: model, resize: resize,
                    normalization: normalization, harmonization: harmonization))
        }
        let shape = inputs[0].tensor.shape
        for (i, input) in inputs.enumerated() where input.tensor.shape != shape {
            throw RPCError.shapeMismatch(
                "images[\(i)] is \(input.tensor.shape), images[0] is \(shape): one batch needs one size",
                field: "images[\(i)]")
        }
        let x = Tensor(uninitialized: [inputs.count] + shape)
        for (i, input) in inputs.enumerated() {
            (x.data + i * input.tensor.count).update(from: input.tensor.data, count: input.tensor.count)
        }

        var labels: [Int]?
        if let values = try p.array("labels", count: inputs.count...inputs.count) {
            labels = try values.enumerated().map { i, v in
                guard let n = v.intValue, n >= 0, n < 1000 else {
                    throw p.invalid("labels[\(i)]", "must be a class index")
                }
                return Int(n)
            }
        } else if p.has("labels") {
            throw p.invalid("labels", "must be an array of \(inputs.count) class indices")
        }
        var masks: Tensor?
        if let values = try p.array("masks", count: inputs.count...inputs.count) {
            let (h, w) = (shape[1], shape[2])
            let m = Tensor(zeros: [inputs.count, 1, h, w])
            for i in values.indices {
                let mask = try readMask(p, values, index: i)
                let sized =
                    mask.height == h && mask.width == w ? mask : mask.resized(height: h, width: w, filter: .nearest)
                let targets = MaskFormat.auto.targets(sized, threshold: 127)
                for j in 0..<(h * w) { m[i * h * w + j] = targets.pixels[j] }
            }
            masks = m
        } else if p.has("masks") {
            throw p.invalid("masks", "must be an array of \(inputs.count) masks")
        }
        guard labels != nil || masks != nil else {
            throw p.invalid("labels", "train.step with images needs labels or masks")
        }
        try p.finish()
        return Batch(images: x, masks: masks, labels: labels)
    }

    /// One mask as a 1-channel image on the 0...255 scale.
    static func readMask(_ params: ParamsReader, _ values: [JSONValue], index: Int) throws -> UNetData.Image {
        let p = try params.element("masks", index, of: values)
        let forms = ["array", "path", "png"]
        let given = forms.filter { p.value($0) != nil }
        if given.count > 1 {
            throw params.invalid(
                "masks[\(index)]", "must have one of array, path, png, not \(given.joined(separator: " and "))")
        }
        // A key beside the form (a typo such as "shpae" next to "array") is refused, listing the known ones.
        try p.finish(known: forms)
        if let a = try p.object("array") {
            let raw = try RawArray.read(a, ranks: 2...2, dtypes: [.uint8, .float32])
            try a.finish()
            // 8-bit masks keep their 0...255 values (read by `MaskFormat.auto` by the caller); float masks are 0...1
            // (or class indices when a value is above 1).
            let indices = raw.dtype == .uint8 || raw.values.contains { $0 > 1 }
            let pixels = indices ? raw.values : raw.values.map { $0 > 0.5 ? 255 : 0 }
            return UNetData.Image(channels: 1, height: raw.shape[1], width: raw.shape[2], pixels: pixels)
        }
        if let path = try p.path("path") {
            guard FileManager.default.fileExists(atPath: path) else { throw RPCError.fileNotFound(path) }
            return try ImageDecoder.decode(path: path, channels: 1)
        }
        if let text = try p.string("png") {
            guard let bytes = Data(base64Encoded: text) else { throw p.invalid("png", "is not valid base64") }
            return try ImageDecoder.decode([UInt8](bytes), channels: 1, path: "<png>")
        }
        throw params.invalid("masks[\(index)]", "must have one of array, path, png")
    }
}
