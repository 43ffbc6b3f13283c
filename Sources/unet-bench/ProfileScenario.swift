import ArgumentParser
import CAllocationCounter
import Dispatch
import UNetCore

/// `--profile NAME MODE`: every node of one whole-model case timed in one step, as per-layer-kind totals and the
/// slowest nodes, with the heap allocations of a warm step.
struct ProfileScenario: Scenario {
    @Option(
        name: .customLong("profile"), parsing: .upToNextOption,
        help: ArgumentHelp(
            "Time every node of one model case (infer or train) and print the breakdown.",
            valueName: "NAME MODE"))
    var values: [String] = []

    var isSelected: Bool { !values.isEmpty }

    func validate() throws { if isSelected { _ = try CaseAndMode(values, flag: "--profile") } }

    func run(_ settings: BenchSettings) throws {
        let chosen = try CaseAndMode(values, flag: "--profile")
        let prepared = try PreparedModelCase(chosen.modelCase, mode: chosen.mode, batch: settings.batch)
        let (c, model, mode) = (prepared.modelCase, prepared.model, chosen.mode.rawValue)
        let seconds = try timeBest(settings.quick ? 1 : 3, prepared.step)
        unet_allocations_reset()
        try prepared.step()
        let allocations = unet_allocations_count()
        // One more step with every node timed; the difference to `seconds` is the loss, optimizer and overhead.
        let p = NetworkProfile(nodeCount: model.network.nodes.count)
        p.allocationCount = { unet_allocations_count() }
        model.network.profile = p
        let start = DispatchTime.now().uptimeNanoseconds
        try prepared.step()
        let profiled = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print(
            "best unprofiled \(mode) pass: \(fmt(seconds, 3)) s; heap allocations in a warm pass: \(allocations), "
                + "of which in the layers \(p.forwardAllocations.reduce(0, +)) forward, "
                + "\(p.backwardAllocations.reduce(0, +)) backward")
        printProfile(
            model.network, p, stepSeconds: profiled, mode: mode,
            flops: try nodeFLOPs(model, c.config.inputShape).map { $0 * Double(c.batch) })
    }

    /// Per-layer-kind totals and the slowest nodes of one profiled pass.
    func printProfile(_ network: Network, _ p: NetworkProfile, stepSeconds: Double, mode: String, flops: [Double]) {
        var byKind: [String: (forward: Double, backward: Double, nodes: Int, allocations: (Int, Int))] = [:]
        for (i, node) in network.nodes.enumerated() {
            let e = byKind[node.layer.kind, default: (0, 0, 0, (0, 0))]
            byKind[node.layer.kind] = (
                e.forward + p.forwardSeconds[i], e.backward + p.backwardSeconds[i], e.nodes + 1,
                (
                    e.allocations.0 + p.forwardAllocations[i],
                    e.allocations.1 + p.backwardAllocations[i]
                )
            )
        }
        let total = p.forwardSeconds.reduce(0, +) + p.backwardSeconds.reduce(0, +)
        print(
            "profiled \(mode) pass: \(fmt(stepSeconds, 3)) s, of which \(fmt(total, 3)) s inside the network's layers")
        print(
            pad("layer kind", 24) + pad("nodes", 7) + pad("forward s", 12) + pad("backward s", 12) + pad("share", 8)
                + "heap allocations forward, backward")
        for (kind, e) in byKind.sorted(by: {
            $0.value.forward + $0.value.backward > $1.value.forward + $1.value.backward
        }) {
            print(
                pad(kind, 24) + pad(String(e.nodes), 7) + pad(fmt(e.forward, 3), 12) + pad(fmt(e.backward, 3), 12)
                    + pad(fmt(100 * (e.forward + e.backward) / stepSeconds) + "%", 8)
                    + "\(e.allocations.0), \(e.allocations.1)")
        }
        print("\nslowest nodes (GFLOP/s: the direct convolution's FLOPs over the time; backward counts two products)")
        print(pad("node", 40) + pad("forward s", 12) + pad("backward s", 12) + pad("fwd GFLOP/s", 13) + "bwd GFLOP/s")
        let order = network.nodes.indices.sorted {
            p.forwardSeconds[$0] + p.backwardSeconds[$0] > p.forwardSeconds[$1] + p.backwardSeconds[$1]
        }
        for i in order.prefix(20) {
            let rates =
                flops[i] > 0
                ? pad(fmt(flops[i] / p.forwardSeconds[i] / 1e9), 13)
                    + (p.backwardSeconds[i] > 0 ? fmt(2 * flops[i] / p.backwardSeconds[i] / 1e9) : "")
                : ""
            print(
                pad(network.nodes[i].name + " (" + network.nodes[i].layer.kind + ")", 40)
                    + pad(fmt(p.forwardSeconds[i], 3), 12) + pad(fmt(p.backwardSeconds[i], 3), 12) + rates)
        }
        print("\nnodes at the memory peak (MiB of large tensors alive at once during the node)")
        print(pad("node", 40) + pad("forward MiB", 14) + "backward MiB")
        let byPeak = network.nodes.indices.sorted {
            max(p.forwardPeakBytes[$0], p.backwardPeakBytes[$0]) > max(p.forwardPeakBytes[$1], p.backwardPeakBytes[$1])
        }
        for i in byPeak.prefix(8) {
            print(
                pad(network.nodes[i].name + " (" + network.nodes[i].layer.kind + ")", 40)
                    + pad(String(p.forwardPeakBytes[i] >> 20), 14) + String(p.backwardPeakBytes[i] >> 20))
        }
    }
}
