import Foundation
import UNetCore
import UNetData

/// Looking into an open dataset without training on it: `dataset.sample` (samples as the model sees them) and
/// `dataset.files` (what the dataset holds, without shipping any image).
extension DatasetMethods {
    /// The most float32 values one `dataset.sample` answer may carry (128 MB, about 171 MB of base64). Decoding and
    /// encoding past this blocked every numeric request for minutes on large images.
    static let sampleValueBudget = 1 << 25

    static func dataset(_ ctx: RequestContext) throws -> Dataset {
        let name = try ctx.params[openName]
        guard let d = store(ctx.session).datasets[name] else {
            throw ctx.params.invalid("name", "no dataset named \(name) is open")
        }
        return d
    }

    /// A few samples exactly as the model sees them: normalised float32 images, masks (0/255 for binary ones,
    /// class indices otherwise), labels. Cancellable between samples; `count` × C×H×W is capped by
    /// `sampleValueBudget`. With `shuffle`, the samples are those at `start`... of the order `train.fit` uses in
    /// `epoch` with `seed` (default: the training seed), so the first batch of an epoch can be looked at.
    static func sample(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params
        let d = try dataset(ctx)
        let count = try p[SampleParams.count]
        let augment = try p[SampleParams.augment]
        let epoch = try p[SampleParams.epoch]
        let start = try p[SampleParams.start]
        let shuffle = try p[SampleParams.shuffle]
        let seed = try p[SampleParams.seed].map(UInt64.init) ?? TrainMethods.training(ctx.session).config.seed
        try p.finish()
        let prep = d.preprocessing
        let n = min(count, d.sampleCount), perSample = prep.channels * prep.height * prep.width
        guard n * perSample <= sampleValueBudget else {
            let fits = sampleValueBudget / perSample, shape = "\(prep.channels)x\(prep.height)x\(prep.width)"
            throw p.invalid(
                "count",
                fits == 0
                    ? "one sample of \(d.name) (\(shape)) is more than dataset.sample's budget of \(sampleValueBudget) values"
                        + "; open the dataset with a smaller input_shape to look at it"
                    : "\(n) samples of \(shape) are more than dataset.sample's budget of \(sampleValueBudget) values; "
                        + "ask for at most \(fits)")
        }
        let order = epochOrder(count: d.sampleCount, epoch: epoch, seed: seed, shuffle: shuffle)
        let indices = (0..<n).map { order[(start % d.sampleCount + $0) % d.sampleCount] }
        var items: [JSONValue] = []
        for i in indices {
            try ctx.checkCancelled()
            items.append(try sampleJSON(d, index: i, epoch: epoch, augment: augment))
        }
        return ["name": .string(d.name), "augment": .bool(augment), "samples": .array(items)]
    }

    static func sampleJSON(_ d: Dataset, index i: Int, epoch: Int, augment: Bool) throws -> JSONValue {
        let batch = try d.batch(indices: [i], epoch: epoch, augment: augment)
        var bytes = Data(count: batch.images.count * 4)
        bytes.withUnsafeMutableBytes { raw in
            for j in 0..<batch.images.count {
                raw.storeBytes(of: batch.images[j].bitPattern.littleEndian, toByteOffset: 4 * j, as: UInt32.self)
            }
        }
        var item: JSONObject = [
            "id": .string(d.samples[i].image.name),
            "image": [
                "array": [
                    "dtype": "float32", "shape": JSONValue(Array(batch.images.shape.dropFirst())),
                    "data": .string(bytes.base64EncodedString()),
                ]
            ],
        ]
        if let masks = batch.masks {
            // A binary mask is shown as 0/255; class indices as they are.
            let values = (0..<masks.count).map { masks[$0] }
            let binary = values.allSatisfy { $0 <= 1 }
            let m = values.map { UInt8(min(max(binary ? $0 * 255 : $0, 0), 255)) }
            item["mask"] = [
                "array": [
                    "dtype": "uint8", "shape": JSONValue([masks.shape[2], masks.shape[3]]),
                    "data": .string(Data(m).base64EncodedString()),
                ]
            ]
        }
        if let l = d.samples[i].label {
            item["label"] = JSONValue(l)
            if l < d.classNames.count { item["class"] = .string(d.classNames[l]) }
        }
        return .object(item)
    }

    /// The files of a dataset (or split) in its order, a page at a time: `index`, `id`, `path` and `mask` (null for
    /// generated images), `label` and `class`. `next_offset` is null on the last page.
    static func files(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params
        let d = try dataset(ctx)
        let offset = try p[FilesParams.offset]
        let limit = try p[FilesParams.limit]
        try p.finish()
        let page =
            offset < d.sampleCount ? offset..<min(offset + min(limit, d.sampleCount - offset), d.sampleCount) : 0..<0
        func path(_ s: ImageSource?) -> JSONValue {
            if case .file(let path)? = s { return .string(path) }
            return .null
        }
        let files: [JSONValue] = page.map { i in
            let s = d.samples[i]
            return [
                "index": JSONValue(i), "id": .string(s.image.name), "path": path(s.image), "mask": path(s.mask),
                "label": s.label.map { JSONValue($0) } ?? .null,
                "class": s.label.flatMap { $0 < d.classNames.count ? .string(d.classNames[$0]) : nil } ?? .null,
            ]
        }
        return [
            "name": .string(d.name), "total": JSONValue(d.sampleCount), "offset": JSONValue(offset),
            "files": .array(files), "next_offset": page.upperBound < d.sampleCount ? JSONValue(page.upperBound) : .null,
        ]
    }
}
