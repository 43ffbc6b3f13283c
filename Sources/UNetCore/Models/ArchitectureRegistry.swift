/// Every architecture the engine can build, by name. A new architecture adds its spec here, in one line.
public enum ArchitectureRegistry {
    public static let all: [ArchitectureSpec] = [UNetClassifierBuilder.spec, UNetBuilder.spec, EffUNetBuilder.spec]

    public static var names: [String] { all.map(\.name.rawValue) }

    public static func spec(_ name: ModelConfig.Architecture) -> ArchitectureSpec? { all.first { $0.name == name } }

    /// The spec of `name`, or a `ConfigError` on `architecture` listing the known names.
    public static func lookup(_ name: ModelConfig.Architecture) throws -> ArchitectureSpec {
        guard let spec = spec(name) else {
            throw ConfigError(
                field: "architecture",
                reason: "must be one of \(ParameterSpec.quoted(names)), got \"\(name)\"")
        }
        return spec
    }
}
