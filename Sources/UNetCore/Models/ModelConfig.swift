/// Everything needed to rebuild a model: what `model.create` takes and checkpoints store in their metadata
/// (`unet_engine.config`, one flat JSON object: `architecture`, `input_shape`, `seed` and the architecture's own
/// parameters under their names, as the code before the registry wrote it).
///
/// The parameters an architecture takes are its `ArchitectureSpec`'s declaration; `parameters` always holds
/// every declared one (defaults filled in), so two configurations that build the same model are equal.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// An architecture's name. A struct rather than an enum so that a new architecture is one new file: each
    /// declares its own constant (`.unet`, `.unetClassifier`) next to its builder.
    public struct Architecture: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public var architecture: Architecture
    /// [C, H, W]. For `unet` the height and width are nominal: any size is accepted at run time.
    public var inputShape: [Int]
    public var seed: UInt64
    /// The architecture's own parameters by name, every declared one present.
    public var parameters: [String: ParameterValue]

    /// A configuration with `parameters` over the architecture's defaults. Values are checked by `validate()`.
    public init(
        architecture: Architecture, inputShape: [Int], seed: UInt64 = 0,
        parameters: [String: ParameterValue] = [:]
    ) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.seed = seed
        var all = parameters
        let spec = ArchitectureRegistry.spec(architecture)
        let derived = spec?.derivedDefaults(inputShape) ?? [:]
        for p in spec?.parameters ?? [] where all[p.name] == nil || all[p.name] == .null && p.fields.isEmpty {
            all[p.name] = derived[p.name] ?? p.defaultValue
        }
        // An object's absent fields take their defaults too (a required one stays absent, for `validate`).
        for p in spec?.parameters ?? [] {
            guard case .object(var given)? = all[p.name] else { continue }
            for f in p.fields where given[f.name] == nil && f.defaultValue != .null { given[f.name] = f.defaultValue }
            all[p.name] = .object(given)
        }
        self.parameters = all
    }

    // MARK: Typed reads for builders (the name must be declared: a typo is a programming error)

    public func integer(_ name: String) -> Int { value(name).integer! }
    public func number(_ name: String) -> Double { value(name).number! }
    public func boolean(_ name: String) -> Bool { value(name).boolean! }
    public func string(_ name: String) -> String { value(name).string! }
    public func integers(_ name: String) -> [Int] { value(name).integers! }
    /// An object parameter's fields (every declared one, defaults filled in), or nil when it is null (none).
    public func object(_ name: String) -> [String: ParameterValue]? { value(name).object }

    private func value(_ name: String) -> ParameterValue {
        guard let v = parameters[name] else { preconditionFailure("\(architecture) declares no parameter \(name)") }
        return v
    }

    // MARK: Validation

    /// Checks the shape, every parameter against its declaration and the architecture's own rules before
    /// anything is allocated; the error names the field and what is valid.
    public func validate() throws {
        let spec = try ArchitectureRegistry.lookup(architecture)
        func bad(_ field: String, _ why: String) -> ConfigError { ConfigError(field: field, reason: why) }
        guard inputShape.count == 3 else { throw bad("input_shape", "must be [C, H, W]") }
        guard (1...64).contains(inputShape[0]) else { throw bad("input_shape", "channels must be in 1...64") }
        guard inputShape[1] >= 1, inputShape[2] >= 1, inputShape[1] <= 8192, inputShape[2] <= 8192 else {
            throw bad("input_shape", "height and width must be in 1...8192")
        }
        let declared = Set(spec.parameters.map(\.name))
        if let extra = parameters.keys.sorted().first(where: { !declared.contains($0) }) {
            throw bad(extra, spec.unknownParameterReason)
        }
        for p in spec.parameters {
            guard let v = parameters[p.name] else { throw bad(p.name, "is missing") }
            _ = try p.validate(v)
        }
        try spec.validate(self)
    }

    // MARK: Checkpoint metadata

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue s: String) { stringValue = s }
        init?(intValue: Int) { nil }
    }

    /// Reads the architecture's declared parameters (absent ones take their defaults; keys the architecture does
    /// not declare are ignored, as the old code wrote every unet field for unet-classifier too), after the
    /// architecture's `upgradeStored` has rewritten older forms. An architecture the registry does not know is an
    /// error that lists the known ones.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let name = Architecture(rawValue: try c.decode(String.self, forKey: Key("architecture")))
        let spec = try ArchitectureRegistry.lookup(name)
        var stored: [String: ParameterValue] = [:]
        for key in c.allKeys where !["architecture", "input_shape", "seed"].contains(key.stringValue) {
            if let v = try? c.decode(ParameterValue.self, forKey: key) { stored[key.stringValue] = v }
        }
        stored = spec.upgradeStored(stored)
        var parameters: [String: ParameterValue] = [:]
        for p in spec.parameters {
            if let v = stored[p.name] { parameters[p.name] = try p.validate(v) }
        }
        self.init(
            architecture: name, inputShape: try c.decode([Int].self, forKey: Key("input_shape")),
            seed: try c.decode(UInt64.self, forKey: Key("seed")), parameters: parameters)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(architecture.rawValue, forKey: Key("architecture"))
        try c.encode(inputShape, forKey: Key("input_shape"))
        try c.encode(seed, forKey: Key("seed"))
        for (name, v) in parameters { try c.encode(v, forKey: Key(name)) }
    }
}

/// A model configuration that cannot be built; `field` names the offending setting.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public var description: String { "\(field): \(reason)" }
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
}
