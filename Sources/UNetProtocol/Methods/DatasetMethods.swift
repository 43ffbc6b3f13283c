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
    /// The name of an open dataset, as `dataset.sample`, `dataset.files` and `dataset.close` take it.
    static let openName = Param.string("name", "an open dataset's name").required

    enum OpenParams {
        static let name = Param.string("name", "1...200 characters; a name opened again replaces that dataset")
            .required
        static let task = Param.choice(
            "task", DatasetTask.self,
            "default: classification for root, segmentation for images+masks and phantoms, by the mask column for a "
                + "manifest")
        static let root = Param.path(
            "root", "class folders (Keras' flow_from_directory): one subfolder per class, sorted")
        static let images = Param.path("images", "a folder of images, with masks")
        static let masks = Param.path("masks", "a folder of masks matched to images by file name")
        static let maskSuffix = Param.string(
            "mask_suffix", default: "", "masks named NAME<suffix>.png for image NAME.*")
        static let manifest = Param.path(
            "manifest", "CSV (path,label,mask) or JSON lines; relative paths from the manifest's folder")
        /// Read field by field below (`count`, `size`, `seed`).
        static let phantoms = Param.json(
            "phantoms", fragment: ParamSchemas.phantoms,
            "synthetic chest phantoms with lung masks and consolidation labels")
        static let inputShape = Param.integers(
            "input_shape", count: 3...3, each: 1...8192,
            "[C, H, W], C 1 or 3; default the model's, else the phantoms' size")
        static let validationSplit = Param.number(
            "validation_split", in: 0...0.9, default: 0, "fraction held out as NAME.val (never augmented)")
        static let groupPattern = Param.string(
            "group_pattern", "regular expression; samples sharing its first match stay on one side of the split")
        static let seed = Param.integer("seed", in: 0...Int.max, default: 0, "split, order and augmentation draws")
        static let augment = Param.declared(
            "augment", schema: ParamSchemas.augment.json.objectValue ?? [:],
            "random transforms of training batches (engine names or Keras ImageDataGenerator names)",
            read: { p in try p.object("augment").map(AugmentParams.read) }
        )
        // Its reader refuses Keras' non-augmentation settings (rescale, ...) saying where they belong.
        .nestedKeysCheckedByReader()
        static let letterbox = Param.boolean("letterbox", default: false, "keep the aspect ratio, pad with black")
        /// Read as `Normalization`'s JSON form.
        static let normalization = Param.json(
            "normalization", fragment: ParamSchemas.normalization,
            "{mode: rescale, scale} | {mode: standardize, mean, std} | {mode: per_image}")
        static let cacheMB = Param.integer(
            "cache_mb", in: 0...1 << 20, default: 1024,
            "decoded images kept in memory (MiB); 0 decodes every batch again")
        static let maskFormat = Param.choice(
            "mask_format", MaskFormat.self, default: .auto,
            "auto: class indices when every value is below 64, else foreground > 127")
        static let tile = Param.boolean(
            "tile", default: false,
            "train on random crops of input_shape's size from full-resolution images and masks (the same window of "
                + "both; a new one each epoch when augmenting)")
        static let harmonize = Param.declared(
            "harmonize", schema: Param<Harmonization>.ref("Harmonize"),
            "border crop, percentile window, histogram equalisation or CLAHE for every image (not its masks' "
                + "intensities; masks are cropped alike); stored in checkpoints and repeated by predict and segment "
                + "(default none)",
            read: HarmonizeParams.read)

        static let all: [ParamDeclaration] = [
            name, task, root, images, masks, maskSuffix, manifest, phantoms, inputShape, validationSplit, groupPattern,
            seed, augment, letterbox, normalization, cacheMB, maskFormat, SharedParams.window, SharedParams.frame, tile,
            harmonize,
        ]
    }

    enum SampleParams {
        static let count = Param.integer("count", in: 1...64, default: 4, "samples to return")
        static let augment = Param.boolean(
            "augment", default: false, "apply the dataset's augmentation, as a training batch of epoch would")
        static let epoch = Param.integer(
            "epoch", in: 0...1_000_000, default: 0, "the epoch whose order and draws are used")
        static let start = Param.integer(
            "start", in: 0...Int.max, default: 0, "position in that order of the first sample")
        static let shuffle = Param.boolean("shuffle", default: false, "the shuffled order train.fit uses in epoch")
        static let seed = Param.integer("seed", in: 0...Int.max, "the order's seed (default: train.configure's seed)")
    }

    enum FilesParams {
        static let offset = Param.integer("offset", in: 0...Int.max, default: 0, "index of the first file of the page")
        static let limit = Param.integer("limit", in: 1...100_000, default: 1000, "files per page")
    }

    public static var methods: [MethodSpec] {
        [
            MethodSpec(
                "dataset.open", .numeric,
                summary: "Registers a dataset (class folders, image/mask folders, a manifest or phantoms) "
                    + "under a name; a validation split as NAME.val.",
                params: OpenParams.all, result: datasetOpenResult, errors: [.invalidParams, .fileNotFound]
            ) { ctx in
                try open(ctx)
            },
            MethodSpec(
                "dataset.list", .numeric, summary: "The open datasets: name, task, size, classes, cache use.",
                result: datasetListResult
            ) { ctx in
                let store = store(ctx.session)
                return [
                    "datasets": .array(
                        store.order.compactMap { store.datasets[$0] }.map { d in
                            [
                                "name": .string(d.name), "task": .string(d.task.rawValue),
                                "size": JSONValue(d.sampleCount),
                                "classes": JSONValue(d.classNames), "cache_bytes": JSONValue(d.cacheBytes),
                            ]
                        })
                ]
            },
            MethodSpec(
                "dataset.close", .numeric, summary: "Forgets an open dataset.", params: [openName],
                result: datasetCloseResult, errors: [.invalidParams]
            ) { ctx in
                let name = try ctx.params[openName]
                let store = store(ctx.session)
                guard store.datasets[name] != nil else {
                    throw ctx.params.invalid("name", "no dataset named \(name) is open")
                }
                store.remove(name)
                return [:]
            },
            MethodSpec(
                "dataset.sample", .numeric,
                summary: "A few samples exactly as the model sees them; cancellable between samples, capped "
                    + "at 2^25 float32 values.",
                cancellable: true,
                params: [
                    openName, SampleParams.count, SampleParams.augment, SampleParams.epoch, SampleParams.start,
                    SampleParams.shuffle,
                    SampleParams.seed,
                ],
                result: datasetSampleResult, errors: [.invalidParams, .cancelled, .imageDecodeFailed]
            ) { ctx in
                try sample(ctx)
            },
            MethodSpec(
                "dataset.files", .numeric,
                summary: "Lists a dataset's files (ids, paths, labels) a page at a time, without images.",
                params: [openName, FilesParams.offset, FilesParams.limit], result: datasetFilesResult,
                errors: [.invalidParams]
            ) { ctx in try files(ctx) },
        ]
    }

    static func store(_ session: Session) -> DatasetStore { session.attachment(DatasetStore.self) { DatasetStore() } }

    static func open(_ ctx: RequestContext) throws -> JSONValue {
        let p = ctx.params
        let name = try p[OpenParams.name]
        guard !name.isEmpty, name.count <= 200 else { throw p.invalid("name", "must be 1...200 characters") }
        let sources =
            [OpenParams.root, OpenParams.images, OpenParams.manifest].map(\.name).filter { p.has($0) }
            + (p.has(OpenParams.phantoms.name) ? [OpenParams.phantoms.name] : [])
        guard sources.count == 1 else {
            throw p.invalid(
                sources.isEmpty ? "root" : sources[1],
                "give exactly one source: root, images (+ masks), manifest or phantoms")
        }
        let seed = UInt64(try p[OpenParams.seed])
        let augmentation = try p[OpenParams.augment] ?? Augmentation()

        // Samples, class names and the task.
        var samples: [Sample] = [], classes: [String] = [], skipped: [SkippedFile] = []
        var task = try p[OpenParams.task]
        var phantomSize: [Int]?
        if let root = try p[OpenParams.root] {
            (samples, classes, skipped) = try DatasetSources.classFolders(root)
            task = task ?? .classification
        } else if let images = try p[OpenParams.images] {
            guard let masks = try p[OpenParams.masks] else { throw p.invalid("masks", "is required with images") }
            (samples, skipped) = try DatasetSources.imageMaskFolders(
                images: images, masks: masks,
                maskSuffix: try p[OpenParams.maskSuffix])
            task = task ?? .segmentation
        } else if let manifest = try p[OpenParams.manifest] {
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
            throw RPCError(
                code: RPCError.invalidParamsCode, message: "dataset \(name) has no usable images",
                data: [
                    "field": .string(sources[0]), "reason": "no usable images",
                    "skipped": skippedJSON(skipped),
                ])
        }
        guard let task else { throw p.invalid("task", "is required") }
        if task == .segmentation, samples.contains(where: { $0.mask == nil }) {
            throw p.invalid("task", "segmentation needs a mask for every image")
        }

        // How images become inputs: input_shape, else the model's, else the phantoms' size.
        let shape =
            try p[OpenParams.inputShape]
            ?? ctx.session.model?.config.inputShape ?? phantomSize.map { [1] + $0 }
        if p.has("input_shape"), let shape { try ChannelsLastShape.refuse(shape, p, key: "input_shape") }
        guard let shape, shape[0] == 1 || shape[0] == 3 else {
            throw p.invalid(
                "input_shape", shape == nil ? "is required (no model to take it from)" : "channels must be 1 or 3")
        }
        var prep = Preprocessing(
            channels: shape[0], height: shape[1], width: shape[2],
            letterbox: try p[OpenParams.letterbox])
        if let n = try p[OpenParams.normalization] {
            do {
                prep.normalization = try JSONValueCoding.decode(Normalization.self, from: n)
            } catch {
                throw p.invalid("normalization", "is not a valid normalization object")
            }
        }
        prep.maskFormat = try p[OpenParams.maskFormat]
        prep.decodeOptions = try p.decodeOptions()
        prep.tileSampling = try p[OpenParams.tile]
        prep.harmonization = try p[OpenParams.harmonize] ?? .none
        let cacheMB = try p[OpenParams.cacheMB]
        let split = try p[OpenParams.validationSplit]
        let groupPattern = try p[OpenParams.groupPattern]
        try p.finish()

        let all = Dataset(
            name: name, task: task, samples: samples, classNames: classes, preprocessing: prep,
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

        var answer: JSONObject = [
            "name": .string(name), "task": .string(task.rawValue), "size": JSONValue(train.sampleCount),
            "classes": JSONValue(classes), "counts": countsJSON(train),
            "input_shape": JSONValue(shape), "skipped": skippedJSON(skipped),
        ]
        answer["validation"] =
            validation.map { v in
                ["name": .string(v.name), "size": JSONValue(v.sampleCount), "counts": countsJSON(v)]
            } ?? .null
        return .object(answer)
    }

    static func countsJSON(_ d: Dataset) -> JSONValue {
        .object(JSONObject(zip(d.classNames, d.classCounts).map { ($0, JSONValue($1)) }))
    }

    static func skippedJSON(_ s: [SkippedFile]) -> JSONValue {
        .array(
            s.map { f in
                f.row.map { ["row": JSONValue($0), "error": .string(f.error)] } ?? [
                    "path": .string(f.path), "error": .string(f.error),
                ]
            })
    }
}
