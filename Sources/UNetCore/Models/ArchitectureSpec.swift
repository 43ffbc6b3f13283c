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

    public init(name: ModelConfig.Architecture, summary: String, parameters: [ParameterSpec],
                validate: @escaping @Sendable (ModelConfig) throws -> Void = { _ in },
                estimate: @escaping @Sendable (ModelConfig) -> ModelSizeEstimate,
                build: @escaping @Sendable (ModelConfig) -> Model) {
        self.name = name; self.summary = summary; self.parameters = parameters
        self.validate = validate; self.estimate = estimate; self.build = build
    }

    public func parameter(_ name: String) -> ParameterSpec? { parameters.first { $0.name == name } }

    /// Why a parameter this architecture does not declare is refused, listing the ones it does.
    public var unknownParameterReason: String {
        "is not a parameter of architecture \"\(name)\" (its parameters: "
            + (parameters.isEmpty ? "none" : parameters.map(\.name).joined(separator: ", ")) + ")"
    }
}
