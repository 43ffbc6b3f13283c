import ArgumentParser
import UNetProtocol

/// What the three one-shots share: the checkpoint, the threshold, the threads and the files.
struct OneShotOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The checkpoint (model.save's, or a PyTorch state_dict in safetensors).",
            valueName: "M"))
    var model: String

    @Argument(help: ArgumentHelp("JPEG, PNG or DICOM files.", valueName: "FILES"))
    var files: [String] = []

    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give one or more image files") }
    }

    func arguments(_ command: OneShot.Command) -> OneShot.Arguments {
        OneShot.Arguments(command: command, model: model, files: files)
    }
}

/// A threshold in [0, 1].
struct Threshold: ExpressibleByArgument {
    let value: Double

    init?(argument: String) {
        guard let t = Double(argument), (0...1).contains(t) else { return nil }
        value = t
    }

    static var defaultValueDescription: String { "a number in [0, 1]" }
}

extension MaskEncoding: ExpressibleByArgument {}

/// The configuration every one-shot shares but its name, abstract and discussion (`OneShotUsage`).
private func oneShotConfiguration(_ command: OneShot.Command) -> CommandConfiguration {
    CommandConfiguration(
        commandName: command.rawValue, abstract: OneShotUsage.abstract(command),
        usage: OneShotUsage.synopsis(command), discussion: OneShotUsage.discussion(command))
}

/// Runs `arguments` with the threads of `compute`, and exits with the one-shot's status.
private func runOneShot(_ arguments: OneShot.Arguments, _ compute: ComputeOptions) throws -> Never {
    compute.apply()
    throw ExitCode(OneShot.run(arguments))
}

struct PredictCommand: ParsableCommand {
    static let configuration = oneShotConfiguration(.predict)

    @OptionGroup var common: OneShotOptions

    @Option(help: ArgumentHelp("In [0, 1], for a model with one sigmoid output only (default 0.5).", valueName: "T"))
    var threshold: Threshold?

    func run() throws {
        var a = common.arguments(.predict)
        a.threshold = threshold?.value
        try runOneShot(a, common.compute)
    }
}

struct SegmentCommand: ParsableCommand {
    static let configuration = oneShotConfiguration(.segment)

    @OptionGroup var common: OneShotOptions

    @Option(
        name: .customLong("output-dir"),
        help: ArgumentHelp("Write each label mask to D as a PNG (created if needed).", valueName: "D"))
    var outputDir: String?

    @Option(help: ArgumentHelp("png, array, probabilities or probabilities_json (default png).", valueName: "E"))
    var encoding: MaskEncoding?

    @Option(help: ArgumentHelp("Foreground threshold in [0, 1] of a one-channel mask (default 0.5).", valueName: "T"))
    var threshold: Threshold?

    func run() throws {
        var a = common.arguments(.segment)
        (a.outputDir, a.encoding, a.threshold) = (outputDir, encoding, threshold?.value)
        try runOneShot(a, common.compute)
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = oneShotConfiguration(.explain)

    @OptionGroup var common: OneShotOptions

    @Option(
        name: .customLong("output-dir"),
        help: ArgumentHelp("Where the maps and overlays go (created if needed).", valueName: "D"))
    var outputDir: String

    @Option(
        help: ArgumentHelp(
            "gradcam (default), gradcam++, saliency, smoothgrad, integrated_gradients, class_map.", valueName: "X"))
    var method: String?

    @Option(
        help: ArgumentHelp(
            "The class to explain, an index or a class name (default: the predicted one).",
            valueName: "T"))
    var target: String?

    @Option(
        help: ArgumentHelp(
            "Grad-CAM's layer, a node name of model.summary (default: the bottleneck).",
            valueName: "L"))
    var layer: String?

    @Option(help: ArgumentHelp("In [0, 1]: also a mask of map >= T (painted green on the overlay).", valueName: "T"))
    var threshold: Threshold?

    func run() throws {
        var a = common.arguments(.explain)
        (a.outputDir, a.method, a.target, a.layer, a.threshold) =
            (outputDir, method, target, layer, threshold?.value)
        try runOneShot(a, common.compute)
    }
}
