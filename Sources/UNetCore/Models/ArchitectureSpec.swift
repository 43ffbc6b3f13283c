/// What an architecture declares about itself: its name, a one-line description, its own parameters, the
/// rules that tie them to the input shape, and how to build the network. `ArchitectureRegistry` lists every
/// one; `model.create`, `model.architectures`, the `model.create` entry of `openrpc.json` and checkpoint loading
/// all read it from there, so a new architecture is one file declaring a spec plus its line in the registry.
public struct ArchitectureSpec: Sendable {
    public let name: ModelConfig.Architecture
    public let summary: String
    public let parameters: [ParameterSpec]
    /// Checks the configuration beyond each parameter's own range (e.g. divisibility of the input size); runs
    /// after the parameters have been checked against their declarations.
    public let validate: @Sendable (ModelConfig) throws -> Void
    /// The model's size from a validated configuration alone, before anything is allocated, so `Model.build`
    /// refuses one past the engine's limit (`ModelSizeEstimate.check`); its building blocks are public.
    public let estimate: @Sendable (ModelConfig) -> ModelSizeEstimate
    /// Builds the model from a validated configuration, weights drawn from its seed.
    public let build: @Sendable (ModelConfig) -> Model
    /// Defaults that follow from the input shape (eff-unet's `in_channels` is its C), in place of the declared
    /// ones, so a configuration that leaves them out is equal to one that gives them.
    public let derivedDefaults: @Sendable (_ inputShape: [Int]) -> [String: ParameterValue]
    /// Rewrites the parameters of checkpoints written before a parameter changed form (every key of the stored
    /// configuration but `architecture`, `input_shape` and `seed`) into the current declaration's.
    public let upgradeStored: @Sendable ([String: ParameterValue]) -> [String: ParameterValue]

    public init(
        name: ModelConfig.Architecture, summary: String, parameters: [ParameterSpec],
        validate: @escaping @Sendable (ModelConfig) throws -> Void = { _ in },
        derivedDefaults: @escaping @Sendable ([Int]) -> [String: ParameterValue] = { _ in [:] },
        upgradeStored: @escaping @Sendable ([String: ParameterValue]) -> [String: ParameterValue] = { $0 },
        estimate: @escaping @Sendable (ModelConfig) -> ModelSizeEstimate,
        build: @escaping @Sendable (ModelConfig) -> Model
    ) {
        self.name = name; self.summary = summary; self.parameters = parameters
        self.validate = validate; self.derivedDefaults = derivedDefaults; self.upgradeStored = upgradeStored
        self.estimate = estimate; self.build = build
    }

    public func parameter(_ name: String) -> ParameterSpec? { parameters.first { $0.name == name } }

    /// Why a parameter this architecture does not declare is refused, listing the ones it does.
    public var unknownParameterReason: String {
        "is not a parameter of architecture \"\(name)\" (its parameters: "
            + (parameters.isEmpty ? "none" : parameters.map(\.name).joined(separator: ", ")) + ")"
    }
}
