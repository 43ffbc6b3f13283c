import Foundation
import UNetCore
import UNetData

/// `predict` (image-level classes) and `segment` (masks) on the current model, in batches of consecutive images of
/// one size: memory stays bounded, and a `cancel` takes effect between batches.
public enum InferenceMethods: MethodGroup {
    static let predictThreshold = Param.number(
        "threshold", in: 0...1, default: 0.5,
        "class 1 when the single sigmoid unit is at or above it; -32602 for a model with more than one class output")
    static let segmentThreshold = Param.number(
        "threshold", in: 0...1, default: 0.5, "a pixel is foreground when its probability is at or above it")
    static let encoding = Param.choice(
        "encoding", MaskEncoding.self, default: .png,
        "png: base64 PNG of the label mask; array: uint8 raw array of it; probabilities: float32 raw array of the "
            + "probabilities; probabilities_json: the probabilities as nested JSON numbers (what probabilities gave "
            + "before)")
    static let outputDir = Param.path(
        "output_dir",
        "write each mask there as <stem>_mask.png (mask_NNN.png for inline images); a name taken by an earlier "
            + "image of the request gets _1, _2, ... after the stem")
    static let tile = Param.declared(
        "tile",
        schema: [
            "type": "object",
            "properties": [
                "size": [
                    "type": "array",
                    "items": [
                        "type": "integer", "minimum": 1,
                        "maximum": JSONValue(ImageInput.maximumSide),
                    ],
                    "minItems": 2, "maxItems": 2,
                ],
                "overlap": ["type": "number", "minimum": 0, "maximum": 0.95, "default": 0.25],
                "mode": ["enum": ["constant", "gaussian"]],
                "batch": ["type": "integer", "minimum": 1, "maximum": 64],
            ],
            "required": ["size"], "additionalProperties": false,
        ],
        "sliding-window inference at full resolution (MONAI's sliding_window_inference): windows of size [h, w] "
            + "stepping by int(size * (1 - overlap)), the last moved back to the edge, blended with a constant or "
            + "Gaussian (sigma 0.125 * size) importance map, batch windows per forward; images are not resized "
            + "unless resize is true",
        read: TiledInference.read)
    static let postprocess = SharedParams.postprocess(
        "cleans each label mask at the image's own size (one-channel models; not with the probabilities encodings)")

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "predict", .numeric, summary: "Image-level class probabilities.", cancellable: true,
                params: [SharedParams.images, predictThreshold] + SharedParams.decoding
                    + [SharedParams.tta, SharedParams.inferenceHarmonize],
                result: predictResult,
                errors: [.noModel, .shapeMismatch, .unsupportedByModel, .fileNotFound, .imageDecodeFailed]
            ) { ctx in
                try predict(ctx)
            },
            MethodSpec(
                "segment", .numeric, summary: "Masks at each image's size.", cancellable: true,
                params: [SharedParams.images, segmentThreshold, encoding, outputDir] + SharedParams.decoding
                    + [SharedParams.tta, tile, SharedParams.inferenceHarmonize, postprocess],
                result: segmentResult,
                errors: [.noModel, .shapeMismatch, .unsupportedByModel, .fileNotFound, .imageDecodeFailed, .ioError]
            ) { ctx in
                try segment(ctx)
            },
        ]
    }

    /// Images per forward unless the request says otherwise (`batch_size`): four ran faster than one at a time and
    /// as fast as eight, in less memory than eight (`unet-bench --model-run unet-ronneberger-256 infer --batch N`;
    /// Examples/benchmarks/RESULTS.md has the figures).
    static let defaultBatchSize = 4
    /// A batch holds at most this many pixels per channel, or one image if that is larger: by default four
    /// 256x256 images; with an explicit `batch_size`, up to 64 of them. Larger images run alone, so a batch
    /// never takes more memory than the largest single image the engine accepts.
    static let defaultBatchPixels = 1 << 18
    static let maximumBatchPixels = 1 << 22

    /// Reads the images of the request one by one and runs them through the model in batches: consecutive images
    /// of the same size, up to `batch_size` of them and the pixel budget. `body(i, input, probabilities, row)`
    /// then sees image `i` with the batch's activated outputs (averaged over the `tta` views), its own at `row`.
    /// With `tile` (segment only) each image runs alone, window by window (`TiledInference`), at its own size
    /// unless `resize` is given as true.
    static func forEachImage(
        _ ctx: RequestContext, model: Model, heads: Model.Heads, tile: TiledInference? = nil,
        _ body: (Int, ImageInput, Probabilities, Int) throws -> Void
    ) throws {
        let tta = try TestTimeAugmentation.read(ctx.params, model: model)
        try forEachBatch(ctx, model: model, alone: tile != nil) { x, items in
            func plain(_ view: Tensor) throws -> Probabilities {
                let output = try model.forward(view, training: false, heads: heads)
                var p = Probabilities()
                if let m = output.mask, let a = model.maskActivation { p.mask = Model.activate(m, a) }
                if let c = output.classLogits, let a = model.classActivation { p.classes = Model.activate(c, a) }
                return p
            }
            let probabilities =
                try tile.map { tiles in
                    try tiles.run(x, checkCancelled: ctx.checkCancelled) { windows in try tta.run(windows, plain) }
                } ?? tta.run(x, plain)
            for (row, item) in items.enumerated() { try body(item.index, item.input, probabilities, row) }
        }
    }

    /// The batching under `forEachImage` (and `explain`): reads the request's `images` one by one and hands
    /// `run(x, items)` each batch of consecutive images of one size, up to `batch_size` of them and the pixel
    /// budget, as one (N, C, H, W) tensor with the images it holds in row order. `alone` runs every image in a
    /// batch of its own, at its own size unless `resize` is given as true. Cancellation is checked before each
    /// image is read and each batch runs; `{"done", "total"}` progress goes out at most once a second.
    static func forEachBatch(
        _ ctx: RequestContext, model: Model, alone: Bool = false,
        _ run: (Tensor, [(index: Int, input: ImageInput)]) throws -> Void
    ) throws {
        let p = ctx.params
        let images = try p.requiredArray(SharedParams.images.name, count: 1...ImageInput.maximumImages)
        let resize = try p[SharedParams.resize] ?? !alone
        let asked = try p[SharedParams.batchSize]
        var (batchSize, batchPixels) = asked.map { ($0, maximumBatchPixels) } ?? (defaultBatchSize, defaultBatchPixels)
        if alone { (batchSize, batchPixels) = (1, Int.max) }
        let normalization = ctx.session.preprocessing?.normalization ?? .unit
        let options = try p.decodeOptions(withPatientID: true)
        // The request's own, else what the model was trained with (dataset.open's, or the checkpoint's).
        let harmonization = try p[SharedParams.inferenceHarmonize] ?? ctx.session.preprocessing?.harmonization ?? .none
        var lastReport = Date()
        var pending: [(index: Int, input: ImageInput)] = []
        var done = 0

        func runPending() throws {
            guard let first = pending.first?.input.tensor else { return }
            try ctx.checkCancelled()
            let x = Tensor(uninitialized: [pending.count] + first.shape)
            for (row, item) in pending.enumerated() {
                x.image(row).update(from: item.input.tensor.data, count: first.count)
            }
            try run(x, pending)
            done += pending.count
            pending.removeAll(keepingCapacity: true)
            if Date().timeIntervalSince(lastReport) >= 1 {
                ctx.progress(["done": JSONValue(done), "total": JSONValue(images.count)])
                lastReport = Date()
            }
        }

        for i in images.indices {
            try ctx.checkCancelled()
            let input = try ImageInput.read(
                images, index: i, params: p, model: model, resize: resize,
                normalization: normalization, options: options, harmonization: harmonization)
            let shape = input.tensor.shape
            do {
                try model.validateInput([1] + shape)
            } catch let e as ShapeError {
                var reason = "images[\(i)]: \(e.description)"
                if model.fixedSize { reason += " (send \"resize\": true to resize it)" }
                throw RPCError.shapeMismatch(reason, field: "images[\(i)]")
            }
            if let first = pending.first?.input.tensor,
                first.shape != shape || pending.count == batchSize
                    || (pending.count + 1) * shape[1] * shape[2] > batchPixels
            {
                try runPending()
            }
            pending.append((i, input))
        }
        try runPending()
    }

    /// Image `row` of a batched output (N, ...) as a batch of one (1, ...).
    static func row(_ t: Tensor, _ row: Int) -> Tensor {
        let one = Tensor(uninitialized: [1] + t.shape.dropFirst())
        one.data.update(from: t.image(row), count: one.count)
        return one
    }

    // MARK: predict

    static func predict(_ ctx: RequestContext) throws -> JSONValue {
        let model = try ctx.session.requireModel()
        guard model.classOutput != nil, model.classActivation != nil else {
            throw RPCError.unsupportedByModel(
                "this unet has no classification head: create it with classification_head")
        }
        let threshold = Float(try ctx.params[predictThreshold])
        // A threshold picks class 1 from one sigmoid unit; with more units the largest output wins, so a
        // threshold would be silently ignored: refuse it instead.
        let units = model.classHead?.channels ?? 0
        if units != 1, ctx.params.value("threshold") != nil {
            throw ctx.params.invalid(
                "threshold",
                "applies only to a model whose class output is one sigmoid unit; this one has \(units) outputs "
                    + "and predicts the largest: leave threshold out")
        }
        var predictions: [JSONValue] = []
        try forEachImage(ctx, model: model, heads: .classes) { _, input, output, r in
            guard let classes = output.classes else { return }
            let probs = row(classes, r).array  // (1, K) -> K values
            // One sigmoid unit is the probability of class 1; otherwise the largest output wins.
            let index =
                probs.count == 1
                ? (probs[0] >= threshold ? 1 : 0)
                : probs.indices.max { probs[$0] < probs[$1] }!
            let names = ctx.session.classNames
            let label = names.flatMap { index < $0.count ? $0[index] : nil } ?? String(index)
            var entry: JSONObject = [
                "probabilities": JSONValue(probs), "label": .string(label), "class_index": JSONValue(index),
            ]
            if let tags = input.dicom { entry["dicom"] = tags.json }
            predictions.append(.object(entry))
        }
        return ["predictions": .array(predictions)]
    }

    // MARK: segment

    static func segment(_ ctx: RequestContext) throws -> JSONValue {
        let model = try ctx.session.requireModel()
        guard model.maskOutput != nil, model.maskActivation != nil else {
            throw RPCError.unsupportedByModel(
                "\(model.config.architecture.rawValue) produces no mask: segment needs a unet")
        }
        let p = ctx.params
        let threshold = Float(try p[segmentThreshold])
        let encoding = try p[Self.encoding]
        var files = try p[outputDir].map { try MaskFiles(directory: $0) }
        let tile = try p[Self.tile]
        let post = try p[Self.postprocess]
        try PostprocessParams.requireOneChannel(post, p, channels: model.maskHead?.channels ?? 1)
        if !post.isIdentity, encoding == .probabilities || encoding == .probabilitiesJSON, files == nil {
            throw p.invalid(
                "postprocess", "cleans label masks; the \(encoding.rawValue) encoding returns the raw probabilities")
        }
        var masks: [JSONValue] = []
        try forEachImage(ctx, model: model, heads: .mask, tile: tile) { i, input, output, r in
            guard let maskProbs = output.mask else { return }
            let probs =
                input.region.map { region in
                    MaskEncoding.uncropped(
                        MaskEncoding.resize(row(maskProbs, r), height: region.height, width: region.width),
                        height: input.originalHeight, width: input.originalWidth, at: region)
                } ?? MaskEncoding.resize(row(maskProbs, r), height: input.originalHeight, width: input.originalWidth)
            let mask = MaskEncoding.labels(probs, threshold: threshold).postprocessed(post)
            var entry: JSONObject = [
                "shape": JSONValue([mask.height, mask.width]),
                "foreground_fraction": JSONValue(mask.foregroundFraction),
            ]
            if let tags = input.dicom { entry["dicom"] = tags.json }
            if let path = try files?.write(try mask.png(), stem: input.stem, index: i) {
                entry["path"] = .string(path)
            } else {
                switch encoding {
                case .png: entry["png"] = try mask.pngBase64()
                case .array: entry["array"] = mask.uint8Array
                case .probabilities: entry["probabilities"] = MaskEncoding.float32Array(probs)
                case .probabilitiesJSON: entry["probabilities"] = MaskEncoding.nestedArrays(probs)
                }
            }
            masks.append(.object(entry))
        }
        return ["masks": .array(masks)]
    }
}
