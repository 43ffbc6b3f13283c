import UNetCore

/// The engine's identity, as `engine.hello` and `--version` report it.
public enum EngineInfo {
    public static let name = "unet-engine"
    public static let version = "0.1.0"
    /// Bumped on any incompatible change to Protocol/PROTOCOL.md; minor for additions.
    public static let protocolVersion = "2.0"
    public static var architectures: [String] { ArchitectureRegistry.names }

    /// The BLAS library and the kernels it runs (`BLASCoreCheck`), so a host can see the fast path is taken.
    public static var blas: JSONValue {
        let r = BLASCoreCheck.report
        return [
            "library": .string(r.library), "version": .string(r.version), "config": .string(r.config),
            "core": .string(r.core), "chosen_by": .string(r.choice.rawValue), "corrected": .bool(r.corrected),
            "restarted_from": r.restartedFrom.map(JSONValue.string) ?? .null,
            "best_core": r.best.map(JSONValue.string) ?? .null,
            "cpu": ["vendor": .string(r.cpu.vendor.rawValue), "features": JSONValue(r.cpu.names)],
        ]
    }

    /// The vector kernels of the memory-bound layers (`SIMDLevel`): the level that runs, the CPU's best, every
    /// level this CPU runs, and `UNET_SIMD` when it lowered the level.
    public static var simd: JSONValue {
        let r = SIMDLevel.report
        return [
            "level": .string(r.level.description), "best": .string(r.best.description),
            "available": JSONValue(r.available.map(\.description)),
            "forced_by": r.forcedBy.map(JSONValue.string) ?? .null,
        ]
    }
}
