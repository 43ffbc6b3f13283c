import ArgumentParser
import UNetCore

/// `--conv N,C,O,H,W`: one 3x3 "same" convolution timed by every algorithm, forward and forward + backward (for
/// tuning the algorithm choice).
struct ConvolutionScenario: Scenario {
    @Option(
        name: .customLong("conv"),
        help: ArgumentHelp(
            "Time one 3x3 convolution (batch, channels in and out, height, width) by im2col, by Winograd and by the direct small-channel kernels, then exit.",
            valueName: "N,C,O,H,W"))
    var size: ConvolutionSize?

    var isSelected: Bool { size != nil }

    func run(_ settings: BenchSettings) throws {
        guard let size else { return }
        let (n, c, o, h, w) = (size.n, size.c, size.o, size.h, size.w)
        var rng = RandomGenerator(seed: 4)
        let conv = Conv2D(inputChannels: c, outputChannels: o, kernelSize: 3, rng: &rng)
        let x = Tensor(zeros: [n, c, h, w]), dy = Tensor(zeros: [n, o, h, w])
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
        let flops = 2 * Double(n * c * 9 * o * h * w)
        // At few channels also Winograd's chunked driver against its tile blocks (`winogradConvolveInBlocks`).
        let blocked = max(c, o) <= ConvolutionAlgorithms.winogradBlockedChannels
        // And the row-fused driver (`winogradConvolveRows`) where it applies, the others with it off.
        let rows = ConvolutionAlgorithms.useWinogradRows(channels: c, outChannels: o, width: w)
        let variants =
            [("im2col         ", false, false, true, false), ("winograd", false, true, true, false)]
            + (blocked ? [("winograd chunks", false, true, false, false)] : [])
            + (rows ? [("winograd rows", false, true, false, true)] : [])
            + (max(c, o) <= ConvolutionAlgorithms.directChannelsLimit ? [("direct", true, false, true, false)] : [])
        defer { ConvolutionAlgorithms.winogradRowsEnabled = true }
        // The direct kernels up to their limit, above the layers' own threshold too, to time where it should lie.
        let threshold = ConvolutionAlgorithms.directChannels
        defer { ConvolutionAlgorithms.directChannels = threshold }
        ConvolutionAlgorithms.directChannels = ConvolutionAlgorithms.directChannelsLimit
        for (name, direct, winograd, blocks, fused) in variants {
            ConvolutionAlgorithms.winogradRowsEnabled = fused
            ConvolutionAlgorithms.directEnabled = direct
            ConvolutionAlgorithms.winogradEnabled = winograd
            ConvolutionAlgorithms.winogradBlocksEnabled = blocks
            let tf = timeBest(5) { _ = conv.forward(x, training: false) }
            let tt = timeBest(5) {
                _ = conv.forward(x, training: true); _ = conv.backward(dy)
            }
            print(
                pad(winograd && blocked && blocks ? "winograd blocks" : name, 16)
                    + "\(size): forward \(fmt(flops / tf / 1e9)) GFLOP/s, "
                    + "forward+backward \(fmt(3 * flops / tt / 1e9)) GFLOP/s (effective)")
        }
    }
}
