import UNetCore

/// The engine's identity, as `engine.hello` and `--version` report it.
public enum EngineInfo {
    public static let name = "unet-engine"
    public static let version = "0.1.0"
    /// Bumped on any incompatible change to Protocol/PROTOCOL.md; minor for additions.
    public static let protocolVersion = "2.0"
    public static var architectures: [String] { ArchitectureRegistry.names }
}
