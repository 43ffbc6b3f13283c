import ArgumentParser
import UNetCore

/// `--winograd-parts N,C,O,H,W`: best-of-10 seconds of each stage of one Winograd forward.
struct WinogradPartsScenario: Scenario {
    @Option(
        name: .customLong("winograd-parts"),
        help: ArgumentHelp("Time each stage of one Winograd forward, then exit.", valueName: "N,C,O,H,W"))
    var size: ConvolutionSize?

    var isSelected: Bool { size != nil }

    func run(_ settings: BenchSettings) throws {
        guard let v = size else { return }
        let t = winogradStageSeconds(n: v.n, c: v.c, o: v.o, h: v.h, w: v.w)
        print(
            "winograd stages \(v): input transform \(fmt(t.input * 1e3, 2)) ms, products \(fmt(t.products * 1e3, 2)) ms, "
                + "output transform \(fmt(t.output * 1e3, 2)) ms")
    }
}
