import Foundation
import UNetCore
import UNetData

/// `explain`: where the model looks for a class, as a map per image (`Explainer` computes it; this file reads the
/// params, batches the images as `predict` does, and encodes maps, masks and overlays as `segment` does).
///
/// Written against the model's named heads and node names only: any architecture with a `class` head gets the
/// gradient methods, and one whose class head pools a logit map (or whose mask has one channel per class) gets
/// `class_map`. The model is not changed (`Network.withEvaluationGradients`).
public enum ExplainMethods: MethodGroup {
    static let method = Param.choice(
        "method", ExplanationMethod.self, default: .gradcam,
        "gradcam: ReLU(sum_k w_k A_k) for the activation A of layer, w_k the spatial mean of dS/dA_k, upsampled "
            + "bilinearly; gradcam++: Chattopadhay et al.'s weights; saliency: |dS/dx|, the largest over the input "
            + "channels; smoothgrad: the mean saliency over samples noisy copies; integrated_gradients: |sum over "
            + "channels of (x - black) * the trapezoid mean of dS/dx over steps| ; class_map: the per-pixel "
            + "probability of the target from the logit map a class head pools or a mask of one channel per class. "
            + "S is the target's class logit")
    /// Read by `readTarget`, which knows the model's classes and the session's class names.
    static let target = Param.json(
        "target", schema: ["oneOf": [["type": "integer", "minimum": 0], ["type": "string"]]],
        "the class to explain, by index or by class name (default: each image's predicted class)")
    static let layer = Param.string(
        "layer",
        "gradcam and gradcam++ only: the node whose activation is read, a name model.summary lists (default: the "
            + "deepest encoder feature the class head reads, e.g. bottleneck.relu2); an unknown one is -32602 listing "
            + "the valid ones")
    static let threshold = Param.number(
        "threshold", in: 0...1,
        "also return mask: the pixels whose (normalised) map is >= threshold (the Eff-UNet reference uses 0.97 on "
            + "class_map)")
    static let normalize = Param.choice(
        "normalize", Normalize.self,
        "minmax: each map scaled to [0, 1] (default, except class_map); raw: the values as computed (default for "
            + "class_map, whose values are probabilities)")
    static let encoding = Param.choice(
        "encoding", MaskEncoding.self, default: .png,
        "png: base64 8-bit PNG of the map scaled to 0...255; array: uint8 raw array of it; probabilities: float32 "
            + "raw array of the map values; probabilities_json: the values as nested JSON numbers")
    static let overlay = Param.boolean(
        "overlay", default: false,
        "also return overlay: a base64 RGB PNG of the image with the map as a jet heat overlay, or with threshold "
            + "the mask's pixels painted (0, 255, 0)")
    static let outputDir = Param.path(
        "output_dir",
        "write each map there as <stem>_<method>.png (and the overlay as <stem>_<method>_overlay.png), gradcam++ "
            + "spelt gradcampp; entries then have path and overlay_path instead of inline pictures")
    static let samples = Param.integer(
        "samples", in: 1...maximumSamples, default: ExplanationOptions.defaultSamples, "smoothgrad only: noisy copies")
    static let noise = Param.number(
        "noise", in: 0...1, default: Double("\(ExplanationOptions.defaultNoise)")!,
        "smoothgrad only: the noise's standard deviation as a fraction of the image's value range")
    static let seed = Param.integer("seed", in: 0...Int.max, default: 0, "smoothgrad only: the noise's seed")
    static let steps = Param.integer(
        "steps", in: 1...maximumSteps, default: ExplanationOptions.defaultSteps,
        "integrated_gradients only: intervals of the path from the black baseline, trapezoid rule")

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "explain", .numeric, summary: "Where the model looks for a class: one map per image, at its size.",
                cancellable: true,
                params: [
                    SharedParams.images, method, target, layer, threshold, normalize, encoding, overlay, outputDir,
                    samples, noise, seed, steps, SharedParams.resize, SharedParams.batchSize, SharedParams.window,
                    SharedParams.frame, SharedParams.includePatientID, SharedParams.inferenceHarmonize,
                ],
                result: explainResult,
                errors: [.noModel, .shapeMismatch, .unsupportedByModel, .fileNotFound, .imageDecodeFailed, .ioError]
            ) { ctx in
                try explain(ctx)
            }
        ]
    }

    /// How a map's values are sent: min-max scaled to [0, 1] per image, or as computed.
    enum Normalize: String, CaseIterable {
        case minmax, raw
    }

    static let maximumSamples = 256
    static let maximumSteps = 1024

    static func explain(_ ctx: RequestContext) throws -> JSONValue {
        let model = try ctx.session.requireModel()
        let p = ctx.params
        let method = try p[Self.method]
        let explainer = Explainer(model: model)
        explainer.checkCancelled = ctx.checkCancelled
        let classes = try explainer.classCount(for: method)
        let target = try readTarget(p, classes: classes, names: ctx.session.classNames)
        var options = ExplanationOptions(method: method)
        options.layer = try p[layer]
        if options.layer != nil, !method.readsLayer {
            throw p.invalid("layer", "applies to gradcam and gradcam++ only, not to \(method.rawValue)")
        }
        try readSampling(p, method: method, into: &options)
        let threshold = try p[Self.threshold].map(Float.init)
        let normalize = try p[Self.normalize] ?? (method == .classMap ? .raw : .minmax)
        let encoding = try p[Self.encoding]
        let overlay = try p[Self.overlay]
        let directory = try p[outputDir]
        let stem = method.rawValue.replacingOccurrences(of: "+", with: "p")
        var mapFiles = try directory.map { try MaskFiles(directory: $0, suffix: "_\(stem)", unnamed: stem) }
        var overlayFiles = try directory.map {
            try MaskFiles(directory: $0, suffix: "_\(stem)_overlay", unnamed: "\(stem)_overlay")
        }
        if method == .integratedGradients {
            options.baseline = blackPixel(model, ctx.session.preprocessing?.normalization ?? .unit)
        }

        var entries: [JSONValue] = []
        try InferenceMethods.forEachBatch(ctx, model: model) { x, items in
            let e = try explainer.explain(x, targets: items.map { _ in target }, options: options)
            for (row, item) in items.enumerated() {
                let input = item.input
                let (height, width) = (input.originalHeight, input.originalWidth)
                let raw = MaskEncoding.resize(InferenceMethods.row(e.maps, row), height: height, width: width)
                let map = normalize == .minmax ? ExplanationPicture.minMax(raw.array) : raw.array
                let picture = ExplanationPicture.bytes(normalize == .minmax ? map : ExplanationPicture.minMax(map))
                var entry: JSONObject = [
                    "method": .string(method.rawValue), "target": JSONValue(e.targets[row]),
                    "label": .string(label(e.targets[row], ctx.session.classNames)),
                    "score": JSONValue(Double(e.scores[row])), "shape": JSONValue([height, width]),
                ]
                if let layer = e.layer { entry["layer"] = .string(layer) }
                if let b = e.baselineScores, let s = e.attributionSums {
                    entry["baseline_score"] = JSONValue(Double(b[row]))
                    entry["attribution_sum"] = JSONValue(s[row])
                }
                if let tags = input.dicom { entry["dicom"] = tags.json }
                let mask = threshold.map { t in map.map { $0 >= t } }
                if let mask {
                    let binary = MaskEncoding.LabelMask(
                        height: height, width: width,
                        pixels: mask.map { $0 ? UInt8(255) : 0 })
                    entry["mask_fraction"] = JSONValue(binary.foregroundFraction)
                    entry["mask"] = encoding == .png ? try binary.pngBase64() : binary.uint8Array
                }
                // The map as a grey picture, sent in segment's forms.
                let grey = MaskEncoding.LabelMask(height: height, width: width, pixels: picture)
                if let path = try mapFiles?.write(try grey.png(), stem: input.stem, index: item.index) {
                    entry["path"] = .string(path)
                } else {
                    let plane = Tensor(shape: [1, 1, height, width], values: map)
                    switch encoding {
                    case .png: entry["png"] = try grey.pngBase64()
                    case .array: entry["array"] = grey.uint8Array
                    case .probabilities: entry["probabilities"] = MaskEncoding.float32Array(plane)
                    case .probabilitiesJSON: entry["probabilities"] = MaskEncoding.nestedArrays(plane)
                    }
                }
                if overlay {
                    let heat = normalize == .minmax ? map : ExplanationPicture.minMax(map)
                    let png = try ExplanationPicture.overlay(
                        input: input.tensor, map: heat, mask: mask,
                        height: height, width: width)
                    if let path = try overlayFiles?.write(png, stem: input.stem, index: item.index) {
                        entry["overlay_path"] = .string(path)
                    } else {
                        entry["overlay"] = .string(Data(png).base64EncodedString())
                    }
                }
                entries.append(.object(entry))
            }
        }
        return ["explanations": .array(entries)]
    }

    /// `target`: a class index below `classes`, or a class name of the session's; nil means each image's
    /// predicted class.
    static func readTarget(_ p: ParamsReader, classes: Int, names: [String]?) throws -> Int? {
        guard let v = try p[target] else { return nil }
        let known = (names?.count == classes ? names : nil) ?? []
        let valid =
            "a class index in 0...\(classes - 1)"
            + (known.isEmpty ? "" : " or one of the class names \(known.map { "\"\($0)\"" }.joined(separator: ", "))")
        if let name = v.stringValue {
            guard let index = known.firstIndex(of: name) else {
                throw p.invalid("target", "must be \(valid), got \"\(name)\"")
            }
            return index
        }
        guard let i = v.intValue, let index = Int(exactly: i), (0..<classes).contains(index) else {
            throw p.invalid("target", "must be \(valid), got \(JSONCodec.encodeString(v))")
        }
        return index
    }

    /// SmoothGrad's `samples`, `noise` and `seed`, integrated gradients' `steps`: each refused for the methods
    /// that do not sample, so that a misspelt method does not silently ignore them.
    static func readSampling(_ p: ParamsReader, method: ExplanationMethod, into options: inout ExplanationOptions)
        throws
    {
        for key in [samples.name, noise.name, seed.name] where method != .smoothgrad && p.value(key) != nil {
            throw p.invalid(key, "applies to smoothgrad only, not to \(method.rawValue)")
        }
        if method != .integratedGradients, p.value(steps.name) != nil {
            throw p.invalid("steps", "applies to integrated_gradients only, not to \(method.rawValue)")
        }
        options.samples = try p[samples]
        options.noise = Float(try p[noise])
        options.seed = UInt64(try p[seed])
        options.steps = try p[steps]
    }

    /// Integrated gradients' baseline: a black pixel (0 in every channel) as the model's input normalisation
    /// makes it, per channel.
    static func blackPixel(_ model: Model, _ normalization: Normalization) -> [Float] {
        let c = model.config.inputShape[0]
        var values = [Float](repeating: 0, count: c)
        normalization.apply(UNetData.Image(channels: c, height: 1, width: 1), into: &values)
        return values
    }

    static func label(_ index: Int, _ names: [String]?) -> String {
        names.flatMap { index < $0.count ? $0[index] : nil } ?? String(index)
    }
}
