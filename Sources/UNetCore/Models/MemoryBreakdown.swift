/// Where a process's memory goes, by owner: what `unet-bench --model-run` prints beside the peak RSS, so that a
/// change to the peak can be traced to the part that moved.
public struct MemoryBreakdown {
    /// Parameter values, and their gradients where made (`Parameter.hasGradient`).
    public var parameterBytes = 0
    /// Winograd-transformed kernels kept by convolutions for inference (`WinogradKernelCache`).
    public var winogradKernelBytes = 0
    /// Kernels with an inference BatchNorm folded in, and their Winograd transforms (`Conv2D.foldedKernelBytes`).
    public var foldedKernelBytes = 0
    /// The shared workspace, per slot.
    public var workspaceBytes: [(slot: Workspace.Slot, bytes: Int)] = []
    /// Large tensors (activations, gradients, kept columns) alive at once at their peak since the last
    /// `TensorStorage.resetPeak()`, and the region pages they touched (peak plus placement gaps).
    public var tensorPeakBytes = 0
    public var tensorTouchedBytes = 0

    /// The breakdown now, for a network.
    public init(_ network: Network) {
        for p in network.parameters { parameterBytes += (p.hasGradient ? 2 : 1) * p.value.count * 4 }
        for node in network.nodes {
            guard let conv = node.layer as? Conv2D else { continue }
            winogradKernelBytes += conv.winogradKernels.byteCount
            foldedKernelBytes += conv.foldedKernelBytes
        }
        workspaceBytes = Workspace.Slot.allCases.map { ($0, Workspace.shared.bytes($0)) }
        tensorPeakBytes = TensorStorage.peakLiveByteCount
        tensorTouchedBytes = TensorStorage.touchedByteCount
    }

    /// Name and bytes of each part, workspace slots as `workspace.<slot>`.
    public var parts: [(name: String, bytes: Int)] {
        [
            ("parameters_and_gradients", parameterBytes), ("winograd_kernels", winogradKernelBytes),
            ("folded_kernels", foldedKernelBytes),
            ("tensor_peak", tensorPeakBytes), ("tensor_touched", tensorTouchedBytes),
        ] + workspaceBytes.map { ("workspace.\($0.slot)", $0.bytes) }
    }
}
