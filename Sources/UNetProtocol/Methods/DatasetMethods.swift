import Foundation
import UNetCore
import UNetData

/// The session's open datasets, by name (a validation split is registered as `NAME.val`).
final class DatasetStore {
    var datasets: [String: Dataset] = [:]
    /// Names in the order they were opened, for `dataset.list`.
    var order: [String] = []

    func add(_ d: Dataset) {
        if datasets[d.name] == nil { order.append(d.name) }
        datasets[d.name] = d
    }

    func remove(_ name: String) {
        datasets[name] = nil
        order.removeAll { $0 == name }
    }
}

extension DatasetSources.OpenError: RPCErrorConvertible {
    public var rpcError: RPCError { .invalidParams(field: field, reason: description) }
}

/// `dataset.open`, `dataset.list`, `dataset.close`, and (in DatasetBrowsing.swift) `dataset.sample` and
/// `dataset.files`.
public enum DatasetMethods: MethodGroup {
    public static var methods: [MethodSpec] {
        [
            MethodSpec("dataset.open", .numeric, params: [
                "name", "task", "root", "images", "masks", "mask_suffix", "manifest", "phantoms", "input_shape",
                "validation_split", "group_pattern", "seed", "augment", "letterbox", "normalization", "cache_mb",
                "mask_format", "window", "frame", "tile", "harmonize",
            ]) { ctx in try open(ctx) },
            MethodSpec("dataset.list", .numeric) { ctx in
                let store = store(ctx.session)
                return ["datasets": .array(store.order.compactMap { store.datasets[$0] }.map { d in
                    ["name": .string(d.name), "task": .string(d.task.rawValue), "size": JSONValue(d.sampleCount),
                     "classes": JSONValue(d.classNames), "cache_bytes": JSONValue(d.cacheBytes)]
                })]
            },
            MethodSpec("dataset.close", .numeric, params: ["name"]) { ctx in
                let name = try ctx.params.requiredString("name")
                let store = store(ctx.session)
                guard store.datasets[name] != nil else { throw ctx.params.invalid("name", "no dataset named \(name) is open") }
                store.remove(name)
                return [:]
            },
            MethodSpec("dataset.sample", .numeric, params: ["name", "count", "augment", "epoch", "start", "shuffle", "seed"]) {
                ctx in try sample(ctx)
            },
            MethodSpec("dataset.files", .numeric, params: ["name", "offset", "limit"]) { ctx in try files(ctx) },
        ]
    }

    static func store(_ session: Session) -> DatasetStore { session.attachment(DatasetStore.self) { DatasetStore() } }

    static func open(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params
        let name = try p.requiredString("name")
        guard !name.isEmpty, name.count <= 200 else { throw p.invalid("name", "must be 1...200 characters") }
        let sources = ["root", "images", "manifest", "phantoms"].filter { p.has($0) }
        guard sources.count == 1 else {
            throw p.invalid(sources.isEmpty ? "root" : sources[1],
                            "give exactly one source: root, images (+ masks), manifest or phantoms")
        }
        let seed = UInt64(try p.int("seed", default: 0, in: 0...Int.max))
        let augmentation = try p.object("augment").map(AugmentParams.read) ?? Augmentation()

        // Samples, class names and the task.
        var samples: [Sample] = [], classes: [String] = [], skipped: [SkippedFile] = []
        var task = try p.enumeration("task", DatasetTask.self)
        var phantomSize: [Int]?
        if let root = try p.path("root") {
            (samples, classes, skipped) = try DatasetSources.classFolders(root)
            task = task ?? .classification
        } else if let images = try p.path("images") {
            guard let masks = try p.path("masks") else { throw p.invalid("masks", "is required with images") }
            (samples, skipped) = try DatasetSources.imageMaskFolders(images: images, masks: masks,
                                                                   maskSuffix: try p.string("mask_suffix") ?? "")
            task = task ?? .segmentation
        } else if let manifest = try p.path("manifest") {
            guard FileManager.default.fileExists(atPath: manifest) else { throw RPCError.fileNotFound(manifest) }
            (samples, classes, skipped) = try DatasetSources.manifest(manifest)
            task = task ?? (samples.contains { $0.mask != nil } ? .segmentation : .classification)
        } else if let ph = try p.object("phantoms") {
            let count = try ph.int("count", default: 64, in: 1...100_000)
            let size = try ph.intArray("size", count: 2...2, each: 8...2048) ?? [128, 128]
            let phSeed = UInt64(try ph.int("seed", default: Int(seed), in: 0...Int.max))
            try ph.finish()
            samples = DatasetSources.phantoms(count: count, height: size[0], width: size[1], seed: phSeed)
            classes = PhantomGenerator.classes
            phantomSize = size
            task = task ?? .segmentation
        }
        if p.has("masks") && !p.has("images") { throw p.invalid("masks", "goes with images") }
        guard !samples.isEmpty else {
            throw RPCError(code: RPCError.invalidParamsCode, message: "dataset \(name) has no usable images",
                           data: ["field": .string(sources[0]), "reason": "no usable images",
                                  "skipped": skippedJSON(skipped)])
        }
        guard let task else { throw p.invalid("task", "is required") }
        if task == .segmentation, samples.contains(where: { $0.mask == nil }) {
            throw p.invalid("task", "segmentation needs a mask for every image")
        }

        // How images become inputs: input_shape, else the model's, else the phantoms' size.
        let shape = try p.intArray("input_shape", count: 3...3, each: 1...8192)
            ?? ctx.session.model?.config.inputShape ?? phantomSize.map { [1] + $0 }
        if p.has("input_shape"), let shape { try ChannelsLastShape.refuse(shape, p, key: "input_shape") }
        guard let shape, shape[0] == 1 || shape[0] == 3 else {
            throw p.invalid("input_shape", shape == nil ? "is required (no model to take it from)" : "channels must be 1 or 3")
        }
        var prep = Preprocessing(channels: shape[0], height: shape[1], width: shape[2],
                                 letterbox: try p.bool("letterbox", default: false))
        if let n = p.value("normalization") {
            do {
                prep.normalization = try JSONDecoder().decode(Normalization.self, from: Data(JSONCodec.encodeString(n).utf8))
            } catch {
                throw p.invalid("normalization", "is not a valid normalization object")
            }
        }
        prep.maskFormat = try p.enumeration("mask_format", MaskFormat.self) ?? .auto
        prep.decodeOptions = try p.decodeOptions()
        prep.tileSampling = try p.bool("tile", default: false)
        prep.harmonization = try HarmonizeParams.read(p) ?? .none
        let cacheMB = try p.int("cache_mb", default: 1024, in: 0...1 << 20)
        let split = try p.double("validation_split", default: 0, in: 0...0.9)
        let groupPattern = try p.string("group_pattern")
        try p.finish()

        let all = Dataset(name: name, task: task, samples: samples, classNames: classes, preprocessing: prep,
                          augmentation: augmentation, seed: seed, cacheLimitBytes: cacheMB << 20)
        var train = all
        var validation: Dataset?
        if split > 0 {
            let (t, v) = try DatasetSources.split(samples, fraction: split, groupPattern: groupPattern, seed: seed)
            guard !t.isEmpty, !v.isEmpty else { throw p.invalid("validation_split", "leaves one side empty") }
            train = all.subset(t, name: name)
            validation = all.subset(v, name: name + ".val", augmentation: Augmentation())
        }
        let st = store(ctx.session)
        st.add(train)
        if let validation { st.add(validation) } else { st.remove(name + ".val") }
        // Inference normalises images as training did, and predict can name the classes.
        ctx.session.preprocessing = prep
        if !classes.isEmpty { ctx.session.classNames = classes }
        TrainMethods.training(ctx.session).positions[name] = nil

        var answer: JSONObject = ["name": .string(name), "task": .string(task.rawValue), "size": JSONValue(train.sampleCount),
                                  "classes": JSONValue(classes), "counts": countsJSON(train),
                                  "input_shape": JSONValue(shape), "skipped": skippedJSON(skipped)]
        answer["validation"] = validation.map { v in
            ["name": .string(v.name), "size": JSONValue(v.sampleCount), "counts": countsJSON(v)]
        } ?? .null
        return .object(answer)
    }

    static func countsJSON(_ d: Dataset) -> JSONValue {
        .object(JSONObject(zip(d.classNames, d.classCounts).map { ($0, JSONValue($1)) }))
    }

    static func skippedJSON(_ s: [SkippedFile]) -> JSONValue {
        .array(s.map { f in
            f.row.map { ["row": JSONValue($0), "error": .string(f.error)] } ?? ["path": .string(f.path), "error": .string(f.error)]
        })
    }
}
