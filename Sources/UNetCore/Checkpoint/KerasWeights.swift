import Foundation
import UNetJSON

/// Trained Keras weights into the engine's matching architecture: a Keras 2 `.h5` (a whole model, weights under
/// `/model_weights`, or weights only, at the root; layers in the `layer_names` attribute's order, arrays in each
/// layer's `weight_names` order) or a Keras 3 `.keras` (a zip whose `model.weights.h5` holds
/// `layers/<name>/vars/<i>`; layers in `config.json`'s order).
///
/// For `unet-classifier` the seed's layers with weights, conv2d ... conv2d_9 and dense, are the engine's ten
/// convolutions and its Dense in network order. Keras keeps a convolution kernel as HWIO (kh, kw, in, out), the
/// engine as OIHW; a Dense kernel as (in, out), the engine as (out, in); and Keras flattens an NHWC activation
/// (index (y·W + x)·C + c) where the engine flattens NCHW (c·H·W + y·W + x), so the Dense rows are reordered.
/// The first layer whose arrays do not fit is named in the error and nothing is loaded.
public enum KerasWeights {
    /// One Keras layer that has weights, with its arrays in Keras' order (kernel, then bias).
    struct Layer {
        var name: String
        var arrays: [(shape: [Int], values: [Float])]
    }

    /// Whether `path` names a Keras weight file rather than a safetensors checkpoint.
    public static func handles(_ path: String) -> Bool {
        let lower = path.lowercased()
        return lower.hasSuffix(".h5") || lower.hasSuffix(".hdf5") || lower.hasSuffix(".keras")
    }

    /// A new model of `config` holding the file's weights; the current model is not touched.
    public static func load(path: String, config: ModelConfig) throws -> Model {
        guard config.architecture == .unetClassifier else {
            throw KerasImportError(
                path: path,
                reason: "Keras weights load into architecture \"unet-classifier\" "
                    + "(the seed's classifier); the current model is \"\(config.architecture.rawValue)\"")
        }
        let layers = try readLayers(path: path)
        let model = try Model.build(config)
        try assign(layers, to: model, path: path)
        model.network.noteWeightsChanged()
        return model
    }

    // MARK: Reading the file

    static func readLayers(path: String) throws -> [Layer] {
        guard FileManager.default.fileExists(atPath: path) else { throw CheckpointError.notFound(path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KerasImportError(path: path, reason: "the file cannot be read")
        }
        if data.starts(with: [0x50, 0x4B]) { return try readKeras3(data, path: path) }
        guard let file = HDF5File(path: path), let root = file.root else {
            throw KerasImportError(path: path, reason: "not an HDF5 file, or a truncated one")
        }
        let weights = root.group("model_weights") ?? root
        guard let names = weights.strings(attribute: "layer_names") else {
            throw KerasImportError(path: path, reason: "no layer_names attribute: not a Keras 2 weights file")
        }
        return try names.compactMap { name in
            guard let group = weights.group(name) else {
                throw KerasImportError(path: path, reason: "layer \(name) is listed but has no group", layer: name)
            }
            let arrays = try (group.strings(attribute: "weight_names") ?? []).filter { !$0.isEmpty }.map { w in
                guard let a = try read(group, w, path: path, layer: name) else {
                    throw KerasImportError(path: path, reason: "weight \(w) is listed but missing", layer: name)
                }
                return a
            }
            return arrays.isEmpty ? nil : Layer(name: name, arrays: arrays)
        }
    }

    /// A `.keras` archive: its weights file goes through a temporary file (libhdf5 opens paths).
    private static func readKeras3(_ data: Data, path: String) throws -> [Layer] {
        let weightsBytes: Data
        do { weightsBytes = try StoredZip.entry("model.weights.h5", in: data) } catch let e as StoredZip.Invalid {
            throw KerasImportError(path: path, reason: e.reason)
        }
        let order = (try? StoredZip.entry("config.json", in: data)).flatMap(layerOrder)
        let temporary = FileManager.default.temporaryDirectory
            .appendingPathComponent("unet-engine-\(UUID().uuidString).weights.h5")
        try weightsBytes.write(to: temporary)
        defer { try? FileManager.default.removeItem(at: temporary) }
        guard let file = HDF5File(path: temporary.path), let layersGroup = file.root?.group("layers") else {
            throw KerasImportError(path: path, reason: "model.weights.h5 is not a Keras 3 weights file")
        }
        let present = layersGroup.memberNames
        let names = (order ?? present.sorted(by: naturalOrder)).filter(present.contains)
        return try names.compactMap { name in
            guard let vars = layersGroup.group("\(name)/vars") else { return nil }
            let indices = vars.memberNames.compactMap(Int.init).sorted()
            let arrays = try indices.compactMap { try read(vars, String($0), path: path, layer: name) }
            return arrays.isEmpty ? nil : Layer(name: name, arrays: arrays)
        }
    }

    private static func read(
        _ group: HDF5File.Group, _ name: String, path: String,
        layer: String
    ) throws -> (shape: [Int], values: [Float])? {
        do { return try group.floats(name) } catch let e as HDF5Error {
            throw KerasImportError(path: path, reason: e.reason, layer: layer)
        }
    }

    /// The layer names of a Keras 3 `config.json` (a Functional or Sequential model), in model order.
    private static func layerOrder(_ json: Data) -> [String]? {
        // A config.json that does not decode has no order to give: the caller then orders the weights by name.
        guard let root = try? JSONCodec.decode([UInt8](json), maximumDepth: JSONCodec.fileMaximumDepth),
            let layers = root["config"]?["layers"]?.arrayValue
        else {
            return nil
        }
        return layers.compactMap { $0["name"]?.stringValue ?? $0["config"]?["name"]?.stringValue }
    }

    /// "conv2d" < "conv2d_1" < "conv2d_2" < ... < "conv2d_10": Keras' numbering of layers of one kind.
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        func key(_ s: String) -> (String, Int) {
            if let i = s.lastIndex(of: "_"), let n = Int(s[s.index(after: i)...]) { return (String(s[..<i]), n) }
            return (s, -1)
        }
        return key(a) < key(b)
    }

    // MARK: Mapping onto the engine's layers

    private static func assign(_ layers: [Layer], to model: Model, path: String) throws {
        // The engine's layers with weights, in network order: (name, weight, bias).
        var engine: [(name: String, weight: Tensor, bias: Tensor)] = []
        let named = model.network.namedParameters
        for i in stride(from: 0, to: named.count - 1, by: 2) {
            let layerName = String(named[i].name.split(separator: ".").dropLast().joined(separator: "."))
            engine.append((layerName, named[i].parameter.value, named[i + 1].parameter.value))
        }
        var channels = model.config.inputShape[0]
        for (index, layer) in layers.enumerated() {
            guard index < engine.count else {
                throw KerasImportError(
                    path: path,
                    reason: "the engine's unet-classifier has no layer for it "
                        + "(it has \(engine.count) layers with weights)", layer: layer.name)
            }
            let target = engine[index]
            func refuse(_ why: String) -> KerasImportError {
                KerasImportError(
                    path: path,
                    reason: "\(why), where the engine's \(target.name) (layer \(index + 1) with "
                        + "weights) needs weight \(target.weight.shape) and bias \(target.bias.shape)",
                    layer: layer.name)
            }
            guard layer.arrays.count == 2 else {
                throw refuse("it has \(layer.arrays.count) arrays, not kernel and bias")
            }
            let (kernel, bias) = (layer.arrays[0], layer.arrays[1])
            let w = target.weight.shape
            if w.count == 4 {
                let (o, i, kh, kw) = (w[0], w[1], w[2], w[3])
                guard kernel.shape == [kh, kw, i, o] else {
                    throw refuse("its kernel has shape \(kernel.shape) (HWIO)")
                }
                for y in 0..<kh {
                    for x in 0..<kw {
                        for c in 0..<i {
                            for f in 0..<o {
                                target.weight.data[((f * i + c) * kh + y) * kw + x] =
                                    kernel.values[((y * kw + x) * i + c) * o + f]
                            }
                        }
                    }
                }
                channels = o
            } else {
                let (o, features) = (w[0], w[1])
                guard kernel.shape == [features, o], features % channels == 0 else {
                    throw refuse("its kernel has shape \(kernel.shape) (in, out)")
                }
                let spatial = features / channels
                for s in 0..<spatial {
                    for c in 0..<channels {
                        for f in 0..<o {
                            target.weight.data[f * features + c * spatial + s] =
                                kernel.values[(s * channels + c) * o + f]
                        }
                    }
                }
            }
            guard bias.shape == [target.bias.count] else { throw refuse("its bias has shape \(bias.shape)") }
            for k in 0..<bias.values.count { target.bias.data[k] = bias.values[k] }
        }
        if layers.count < engine.count {
            throw KerasImportError(
                path: path,
                reason: "the file has \(layers.count) layers with weights; the engine's "
                    + "\(engine[layers.count].name) has no counterpart", layer: engine[layers.count].name)
        }
    }
}

/// A Keras file that cannot be loaded: not HDF5, truncated, not Keras, or of another topology (`layer` names the
/// first layer that does not fit).
public struct KerasImportError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var layer: String?

    public var description: String {
        "\(path) cannot be loaded as Keras weights: " + (layer.map { "layer \($0): " } ?? "") + reason
    }
}
