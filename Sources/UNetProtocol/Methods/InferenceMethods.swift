import Foundation
import UNetCore
import UNetData

/// `predict` (image-level classes) and `segment` (masks) on the current model, one image at a time: images may
/// differ in size, memory stays bounded, and a `cancel` takes effect between images.
public enum InferenceMethods: MethodGroup {
    public static var methods: [MethodSpec] {
        [
            MethodSpec("predict", .numeric, params: ["images", "threshold", "resize"]) { ctx in try predict(ctx) },
            MethodSpec("segment", .numeric, params: ["images", "threshold", "encoding", "output_dir", "resize"]) {
                ctx in
                try segment(ctx)
            },
        ]
    }

    /// Runs `body` on each image of `images`, checking for cancellation between images and reporting
    /// `{"done", "total"}` progress at most once a second.
    static func forEachImage(_ ctx: RequestContext, model: Model, _ body: (Int, ImageInput) throws -> Void) throws {
        let p = ctx.params
        let images = try p.requiredArray("images", count: 1...ImageInput.maximumImages)
        let resize = try p.bool("resize")
        let normalization = ctx.session.preprocessing?.normalization ?? .unit
        var lastReport = Date()
        for i in images.indices {
            try ctx.checkCancelled()
            let input = try ImageInput.read(
                images, index: i, params: p, model: model, resize: resize,
                normalization: normalization)
            do {
                try model.validateInput(input.batch.shape)
            } catch let e as ShapeError {
                var reason = "images[\(i)]: \(e.description)"
                if model.fixedSize { reason += " (send \"resize\": true to resize it)" }
                throw RPCError.shapeMismatch(reason, field: "images[\(i)]")
            }
            try body(i, input)
            if Date().timeIntervalSince(lastReport) >= 1 {
                ctx.progress(["done": JSONValue(i + 1), "total": JSONValue(images.count)])
                lastReport = Date()
            }
        }
    }

    // MARK: predict

    static func predict(_ ctx: RequestContext) throws -> JSONValue {
        let model = try ctx.session.requireModel()
        guard model.classOutput != nil, let activation = model.classActivation else {
            throw RPCError.unsupportedByModel(
                "this unet has no classification head: create it with classification_head")
        }
        let threshold = Float(try ctx.params.double("threshold", default: 0.5, in: 0...1))
        var predictions: [JSONValue] = []
        try forEachImage(ctx, model: model) { _, input in
            guard let logits = try model.forward(input.batch, training: false).classLogits else { return }
            let probs = Model.activate(logits, activation).array  // (1, K) -> K values
            // One sigmoid unit is the probability of class 1; otherwise the largest output wins.
            let index =
                probs.count == 1
                ? (probs[0] >= threshold ? 1 : 0)
                : probs.indices.max { probs[$0] < probs[$1] }!
            let names = ctx.session.classNames
            let label = names.flatMap { index < $0.count ? $0[index] : nil } ?? String(index)
            predictions.append([
                "probabilities": JSONValue(probs), "label": .string(label), "class_index": JSONValue(index),
            ])
        }
        return ["predictions": .array(predictions)]
    }

    // MARK: segment

    static func segment(_ ctx: RequestContext) throws -> JSONValue {
        let model = try ctx.session.requireModel()
        guard model.maskOutput != nil, let activation = model.maskActivation else {
            throw RPCError.unsupportedByModel(
                "\(model.config.architecture.rawValue) produces no mask: segment needs a unet")
        }
        let p = ctx.params
        let threshold = Float(try p.double("threshold", default: 0.5, in: 0...1))
        let encoding = try MaskEncoding(
            rawValue: p.string("encoding", default: "png", oneOf: MaskEncoding.allCases.map(\.rawValue)))!
        let outputDir = try p.string("output_dir")
        if let dir = outputDir {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw RPCError(
                    code: RPCError.ioErrorCode,
                    message: "cannot create output_dir \(dir): \(error.localizedDescription)",
                    data: ["path": .string(dir), "reason": .string(error.localizedDescription)])
            }
        }
        var masks: [JSONValue] = []
        try forEachImage(ctx, model: model) { i, input in
            guard let logits = try model.forward(input.batch, training: false).mask else { return }
            let probs = MaskEncoding.resize(
                Model.activate(logits, activation),
                height: input.originalHeight, width: input.originalWidth)
            let mask = MaskEncoding.labels(probs, threshold: threshold)
            var entry: JSONObject = [
                "shape": JSONValue([mask.height, mask.width]),
                "foreground_fraction": JSONValue(mask.foregroundFraction),
            ]
            if let dir = outputDir {
                let name = (input.stem.map { "\($0)_mask" } ?? String(format: "mask_%03d", i)) + ".png"
                let path = (dir as NSString).appendingPathComponent(name)
                let png = try mask.png()
                guard FileManager.default.createFile(atPath: path, contents: Data(png)) else {
                    throw RPCError(
                        code: RPCError.ioErrorCode, message: "cannot write \(path)",
                        data: ["path": .string(path), "reason": "cannot create the file"])
                }
                entry["path"] = .string(path)
            } else {
                switch encoding {
                case .png: entry["png"] = .string(Data(try mask.png()).base64EncodedString())
                case .array:
                    entry["array"] = [
                        "dtype": "uint8", "shape": JSONValue([mask.height, mask.width]),
                        "data": .string(Data(mask.pixels).base64EncodedString()),
                    ]
                case .probabilities: entry["probabilities"] = MaskEncoding.nestedArrays(probs)
                }
            }
            masks.append(.object(entry))
        }
        return ["masks": .array(masks)]
    }
}
