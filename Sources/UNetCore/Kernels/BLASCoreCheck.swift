import Foundation

/// Where the core OpenBLAS runs came from (`engine.hello`'s `blas.chosen_by`).
public enum BLASCoreChoice: String, Sendable {
    /// OpenBLAS's own detection when it was loaded, kept because it is the best this CPU and build allow.
    case openblas
    /// `OPENBLAS_CORETYPE` as the process found it: the user's own choice wins over the engine's.
    case environment = "OPENBLAS_CORETYPE"
    /// `--blas-core NAME` or `UNET_BLAS_CORE=NAME`.
    case override
    /// The engine: OpenBLAS had fallen back to an older core than the CPU runs, so the engine restarted itself
    /// with the best one.
    case engine
}

/// The BLAS a process computes with, as `engine.hello` and `unet-bench` report it.
public struct BLASCoreReport: Sendable {
    public var library: String
    public var version: String
    /// `openblas_get_config()`.
    public var config: String
    /// The core that runs (`openblas_get_corename()`).
    public var core: String
    public var choice: BLASCoreChoice
    /// The core OpenBLAS ran before the engine restarted itself to change it; nil without a restart.
    public var restartedFrom: String?
    /// The best core for this CPU among the ones this build offers (`BLASCore.best`); nil when none applies.
    public var best: String?
    public var cpu: CPUFeatures

    /// Whether the engine corrected OpenBLAS's fallback to an older core.
    public var corrected: Bool { choice == .engine }

    /// One line for logs and `unet-bench`.
    public var summary: String {
        "\(library) \(version), core \(core) (chosen by \(choice.rawValue)"
            + (restartedFrom.map { ", restarted from \($0)" } ?? "") + "; best for this CPU: \(best ?? "none")"
            + "; CPU \(cpu.vendor.rawValue) family \(cpu.family) model \(cpu.model): \(cpu.names.joined(separator: " ")))"
    }
}

/// The start-up check that makes OpenBLAS run the kernels this CPU can: before any BLAS call, it compares the core
/// OpenBLAS chose with the CPU's features and, when OpenBLAS fell back to an older core, restarts the process once
/// (`execv` of /proc/self/exe, same arguments and file descriptors, so a host's pipes stay connected) with
/// `OPENBLAS_CORETYPE` set to the best core, logging one line on stderr. Precedence: `--blas-core NAME` over
/// `UNET_BLAS_CORE` over the user's own `OPENBLAS_CORETYPE` over the engine's choice; either override may be
/// `auto`, the engine's choice even over an inherited `OPENBLAS_CORETYPE`.
public enum BLASCoreCheck {
    /// The command-line override, taken out of the arguments by `atStartup`.
    public static let flag = "--blas-core"
    /// The environment's override (below the flag).
    public static let overrideVariable = "UNET_BLAS_CORE"
    /// Set on the restart only, to the core OpenBLAS ran before it: a restarted process never restarts again.
    /// The restarted process removes it, so that processes it starts decide for themselves.
    static let restartMarker = "UNET_BLAS_CORE_RESTARTED_FROM"
    /// A test hook: `force` treats an inherited `OPENBLAS_CORETYPE` as OpenBLAS's own choice rather than the
    /// user's, so `OPENBLAS_CORETYPE=Prescott` simulates OpenBLAS falling back on a CPU it does not know.
    static let autocorrectHook = "UNET_BLAS_CORE_AUTOCORRECT"
    /// OpenBLAS's own variable: the core it loads, read once when the library is loaded.
    static let coreTypeVariable = "OPENBLAS_CORETYPE"

    /// What a user asked for with `--blas-core` or `UNET_BLAS_CORE`.
    public enum Request: Equatable, Sendable {
        case auto
        case core(String)
    }

    /// Everything the decision depends on, from the environment, the arguments and the loaded library.
    struct Situation: Equatable {
        var request: Request?
        /// `OPENBLAS_CORETYPE` as the process found it.
        var coreType: String?
        /// False under the test hook: `coreType` then counts as OpenBLAS's own choice.
        var coreTypeIsUsers = true
        /// The restart marker: this process is the restart.
        var restartedFrom: String?
        var current: String
        var best: String?
        var switchable = true
    }

    struct Decision: Equatable {
        var choice: BLASCoreChoice
        /// The core to restart with; nil to go on with the current one.
        var restartWith: String?

        /// Going on with the core OpenBLAS loaded, by its own detection or by `OPENBLAS_CORETYPE`.
        static func kept(coreType: String?) -> Decision { Decision(choice: coreType == nil ? .openblas : .environment) }
    }

    /// The decision, as a pure function of the situation.
    static func decide(_ s: Situation) -> Decision {
        let kept = Decision.kept(coreType: s.coreType)
        if s.restartedFrom != nil {
            if case .core? = s.request { return Decision(choice: .override) }
            return Decision(choice: .engine)
        }
        guard s.switchable else { return kept }
        // What OPENBLAS_CORETYPE already asks for: when OpenBLAS runs another core, it refused this one (the CPU
        // or the build lacks it), and restarting with it again would change nothing.
        let asked = s.coreType.flatMap(BLASCore.canonical)
        switch s.request {
        case .core(let name)?:
            return Decision(choice: .override, restartWith: name == s.current || name == asked ? nil : name)
        case nil where s.coreType != nil && s.coreTypeIsUsers:
            return kept
        case .auto?, nil:
            guard let best = s.best, let have = BLASCore.level(s.current), let want = BLASCore.level(best),
                have < want, asked != best
            else { return kept }
            return Decision(choice: .engine, restartWith: best)
        }
    }

    /// What this process computes with. Set by `atStartup`; a process that never ran the check (the in-process
    /// tests) reports OpenBLAS's choice or its environment's.
    nonisolated(unsafe) public private(set) static var report: BLASCoreReport = {
        let s = situation(request: nil)
        return makeReport(s, .kept(coreType: s.coreType))
    }()

    /// Runs the check: call it first thing in `main`, before any BLAS call. Returns `arguments` without
    /// `--blas-core NAME`; exits 2 on an unknown core name; does not return when it restarts the process.
    public static func atStartup(_ arguments: [String], program: String) -> [String] {
        var rest = arguments
        var request: Request?, origin = flag
        if let i = rest.dropFirst().firstIndex(of: flag) {
            guard i + 1 < rest.count else { failure("\(flag) needs a core name or auto", program: program) }
            request = parse(rest[i + 1], from: origin, program: program)
            rest.removeSubrange(i...(i + 1))
        } else if let raw = ProcessInfo.processInfo.environment[overrideVariable], !raw.isEmpty {
            origin = overrideVariable
            request = parse(raw, from: origin, program: program)
        }
        let cpu = CPUFeatures.host
        if case .core(let name)? = request, !BLASCore.runs(name, on: cpu) {
            failure(
                "\(origin) \(name): its kernels need \(BLASCore.needs(name)), which this CPU or its operating "
                    + "system does not offer (\(cpu.names.joined(separator: " "))); they would stop on an illegal "
                    + "instruction", program: program)
        }
        let s = situation(request: request)
        var decision = decide(s)
        if let core = decision.restartWith {
            let why =
                decision.choice == .override
                ? "\(origin) asks for \(core) and OpenBLAS runs \(s.current)"
                : (s.coreType != nil && s.coreTypeIsUsers ? "\(coreTypeVariable) runs " : "OpenBLAS chose ")
                    + "\(s.current), but this CPU (\(cpu.vendor.rawValue) family \(cpu.family) model "
                    + "\(cpu.model): \(cpu.names.joined(separator: " "))) runs \(core)"
            restart(with: core, from: s.current, program: program, why: why)
            decision = .kept(coreType: s.coreType)  // the restart failed
        }
        unsetenv(restartMarker)
        report = makeReport(s, decision)
        if decision.choice == .environment, !BLASCore.runs(report.core, on: cpu) {
            log(
                "\(coreTypeVariable) asks for \(report.core), whose kernels need \(BLASCore.needs(report.core)), which "
                    + "this CPU lacks: expect an illegal-instruction crash at the first product", program)
        }
        if case .core(let name)? = request, name != report.core {
            log("OpenBLAS runs \(report.core), not \(name) as asked (this CPU or OpenBLAS build lacks it)", program)
        }
        if let advice = belowBestAdvice(s, decision) { log(advice, program) }
        return rest
    }

    /// One line for stderr when the user's own `OPENBLAS_CORETYPE` is kept although this CPU runs a better core:
    /// the choice wins, but silently running at a fraction of the machine's speed is what issue 21 is about
    /// (a sandbox that exported `OPENBLAS_CORETYPE=Haswell` halved sgemm on a Zen 5, 206 against 401 GFLOP/s).
    static func belowBestAdvice(_ s: Situation, _ d: Decision) -> String? {
        guard d.choice == .environment, s.coreTypeIsUsers, let asked = s.coreType,
            let best = s.best, let have = BLASCore.level(s.current), let want = BLASCore.level(best), have < want
        else { return nil }
        return "\(coreTypeVariable)=\(asked) from the environment runs \(s.current), below this CPU's best core "
            + "\(best); keeping it (\(overrideVariable)=auto or \(flag) auto runs \(best))"
    }

    /// `auto` or a core name in OpenBLAS's spelling; exits 2 on anything else.
    static func parse(_ text: String, from origin: String, program: String) -> Request {
        if text.lowercased() == "auto" { return .auto }
        guard let name = BLASCore.canonical(text) else {
            failure(
                "\(origin): unknown BLAS core \(text) (auto or one of \(BLASCore.names.joined(separator: ", ")))",
                program: program)
        }
        return .core(name)
    }

    /// This process's situation, with `request` from the flag or the environment.
    static func situation(request: Request?) -> Situation {
        let env = ProcessInfo.processInfo.environment
        return Situation(
            request: request, coreType: env[coreTypeVariable].flatMap { $0.isEmpty ? nil : $0 },
            coreTypeIsUsers: env[autocorrectHook] != "force", restartedFrom: env[restartMarker],
            current: BLASCore.current, best: BLASCore.best(for: .host, offered: BLASCore.offered),
            switchable: BLASCore.switchable)
    }

    static func makeReport(_ s: Situation, _ d: Decision) -> BLASCoreReport {
        let (library, version) = BLASCore.library
        return BLASCoreReport(
            library: library, version: version, config: BLASCore.config, core: s.current,
            choice: d.choice, restartedFrom: s.restartedFrom, best: s.best, cpu: .host)
    }

    /// Replaces this process by a fresh start of the same executable and arguments with `OPENBLAS_CORETYPE=core`
    /// (OpenBLAS reads it only when it is loaded). Returns only when `execv` fails, with the environment restored.
    private static func restart(with core: String, from current: String, program: String, why: String) {
        #if os(Linux)
        let previous = getenv(coreTypeVariable).map { String(cString: $0) }
        log("\(why): restarting with \(coreTypeVariable)=\(core)", program)
        setenv(coreTypeVariable, core, 1)
        setenv(restartMarker, current, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        log("could not restart (\(String(cString: strerror(errno)))); going on with \(current)", program)
        if let previous { setenv(coreTypeVariable, previous, 1) } else { unsetenv(coreTypeVariable) }
        unsetenv(restartMarker)
        #endif
    }

    private static func log(_ message: String, _ program: String) {
        FileHandle.standardError.write(Data("\(program): \(message)\n".utf8))
    }

    private static func failure(_ message: String, program: String) -> Never {
        log(message, program)
        exit(2)
    }
}
