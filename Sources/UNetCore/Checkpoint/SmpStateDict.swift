/// segmentation_models_pytorch state_dicts (saved with `safetensors.torch.save_file`) as `eff-unet` checkpoints:
/// what `Checkpoint.load` does with a file that has no engine metadata but smp's EfficientNet names.
///
/// - A whole model's state_dict (`encoder._conv_stem.weight`, `decoder.blocks.*`, `segmentation_head.0.*`)
///   describes its own configuration: the encoder by its stem and block count, the decoder by its block names,
///   `decoder_channels`, `classes`, the input channels and the aux head by their shapes. It loads into the current
///   model when that is an `eff-unet` (the architecture given), else into one built from the inferred
///   configuration. What shapes cannot tell (the aux head's pooling and dropout) is the current model's, or smp's
///   defaults (avg, 0.2).
/// - An encoder-only file (every key under `encoder.`, as ImageNet weights a user brings) sets the current
///   `eff-unet`'s encoder and keeps the rest of it; `encoder._fc.*` (the ImageNet classifier) is dropped, as
///   smp's encoder drops it.
/// - 3-channel stem weights load into a 1-channel model summed over their input channels, as smp's
///   `patch_first_conv` does for `in_channels=1`.
public enum SmpStateDict {
    static let stemKey = "encoder._conv_stem.weight"

    /// Whether `st` is an smp EfficientNet state_dict (or an encoder-only part of one).
    public static func handles(_ st: SafeTensors) -> Bool { st.tensors[stemKey] != nil }

    /// Whether every key is under `encoder.`.
    static func isEncoderOnly(_ st: SafeTensors) -> Bool { st.tensors.keys.allSatisfy { $0.hasPrefix("encoder.") } }

    /// The configuration `st` loads into: the current one when it is an `eff-unet` (its encoder must be the
    /// file's, as `copyWeights` then checks name by name), else the one its shapes describe. An encoder-only file
    /// needs a current `eff-unet`.
    public static func configuration(of st: SafeTensors, current: ModelConfig?, path: String) throws -> ModelConfig {
        if let current, current.architecture == .effUNet { return current }
        guard !isEncoderOnly(st) else {
            throw CheckpointError.mismatch(
                path,
                "it holds only encoder weights (encoder.*): create the eff-unet "
                    + "model they initialise first")
        }
        return try inferred(st, path: path)
    }

    /// The `eff-unet` configuration a whole smp state_dict describes.
    static func inferred(_ st: SafeTensors, path: String) throws -> ModelConfig {
        func shape(_ key: String) throws -> [Int] {
            guard let t = st.tensors[key] else {
                throw CheckpointError.mismatch(
                    path,
                    "it has smp's encoder names but no \(key), so its configuration "
                        + "cannot be inferred")
            }
            return t.shape
        }
        let stem = try shape(stemKey)
        let blocks = Set(
            st.tensors.keys.compactMap { key -> Int? in
                guard key.hasPrefix("encoder._blocks.") else { return nil }
                return Int(key.dropFirst("encoder._blocks.".count).prefix { $0 != "." })
            }
        ).count
        let head = st.tensors["encoder._conv_head.weight"]?.shape[0]
        guard
            let variant = EfficientNetPlan.Variant.allCases.first(where: {
                let plan = EfficientNetPlan($0)
                return plan.blocks.count == blocks && plan.stemChannels == stem[0]
                    && (head == nil || head == plan.headChannels)
            })
        else {
            throw CheckpointError.mismatch(
                path,
                "its encoder (\(blocks) blocks, stem of \(stem[0]) channels) is none of "
                    + ParameterSpec.quoted(EfficientNetPlan.Variant.allCases.map(\.rawValue)))
        }
        let nested = st.tensors["decoder.blocks.x_0_0.conv1.0.weight"] != nil
        let decoderChannels = try (0..<5).map {
            try shape("decoder.blocks.\(nested ? "x_0_\($0)" : "\($0)").conv1.0.weight")[0]
        }
        var parameters: [String: ParameterValue] = [
            "encoder": .string(variant.rawValue), "decoder": .string(nested ? "unetplusplus" : "unet"),
            "decoder_channels": .integers(decoderChannels),
            "classes": .integer(try shape("segmentation_head.0.weight")[0]),
        ]
        if let aux = st.tensors["classification_head.3.weight"]?.shape {
            let deepest = EfficientNetPlan(variant).blocks.last!.output
            parameters["classification_head"] = .object([
                "classes": .integer(aux[0]),
                "from": .string(aux[1] == deepest ? "encoder" : "mask"),
            ])
        }
        let resolution = variant.coefficients.resolution
        let channels = stem[1] == 3 ? 3 : 1
        parameters["in_channels"] = .integer(channels)
        let config = ModelConfig(
            architecture: .effUNet, inputShape: [channels, resolution, resolution],
            parameters: parameters)
        do { try config.validate() } catch {
            throw CheckpointError.mismatch(path, "the eff-unet its shapes describe is invalid: \(error)")
        }
        return config
    }

    /// `st` made to fit `model` where smp would: 3-channel stem weights summed for a 1-channel model, the ImageNet
    /// classifier dropped, and for an encoder-only file every other tensor taken from `current` (the model the
    /// encoder initialises), so that the strict copy then checks the encoder's names and shapes.
    public static func adapted(_ st: SafeTensors, for model: Model, current: Model?) -> SafeTensors {
        var st = st
        for key in st.tensors.keys where key.hasPrefix("encoder._fc.") { st.tensors[key] = nil }
        if let stem = st.tensors[stemKey], stem.shape.count == 4, stem.shape[1] == 3, model.config.inputShape[0] == 1 {
            let (o, k) = (stem.shape[0], stem.shape[2] * stem.shape[3])
            let summed = Tensor(zeros: [o, 1, stem.shape[2], stem.shape[3]])
            for i in 0..<o {
                for j in 0..<k { summed[i * k + j] = (0..<3).reduce(0) { $0 + stem[(i * 3 + $1) * k + j] } }
            }
            st.tensors[stemKey] = summed
        }
        if isEncoderOnly(st), let current {
            let net = current.network
            for (name, p) in net.namedParameters where !name.hasPrefix("encoder.") { st.tensors[name] = p.value }
            for (name, t) in net.namedBuffers where !name.hasPrefix("encoder.") { st.tensors[name] = t }
        }
        return st
    }
}
