/// A directed acyclic graph of layers in topological order: the U-Net's skip connections are nodes with two
/// inputs. Node inputs refer to earlier nodes by index; `Network.input` (-1) is the network's input.
///
/// The forward keeps every node's output until the backward has used it; the backward walks the nodes in
/// reverse, summing the gradients that flow into each output from all its consumers.
///
/// Gradient ownership: a layer's backward hands its input gradients to the graph, and may hand the same tensor
/// for several inputs (`Add` returns `[dy, dy]`) or pass its own `dy` through. The graph therefore writes only
/// into gradient buffers it owns: a gradient it adopts is marked shared when it is also another slot's (the same
/// storage returned twice, or the node's own shared `dy` passed on), and a second gradient into a shared slot
/// goes into a new buffer (their sum, one pass) instead of into the shared one. Layers that return fresh tensors,
/// as every layer of the U-Nets does, keep the in-place sum: no copy on that path.
public final class Network {
    public static let input = -1

    public struct Node {
        /// Unique dotted name; parameters are saved as `name.weight`, `name.bias`, as PyTorch names them.
        public let name: String
        public let layer: Layer
        public let inputs: [Int]
        /// The layer again when it takes one input: called directly, without an array for its inputs or its
        /// gradients (two heap allocations per node per step).
        let unary: UnaryLayer?
        /// The layer again when its backward can overwrite its output gradient (`GradientOverwritingLayer`).
        let overwriting: GradientOverwritingLayer?

        init(name: String, layer: Layer, inputs: [Int]) {
            self.name = name; self.layer = layer; self.inputs = inputs
            unary = inputs.count == 1 ? layer as? UnaryLayer : nil
            overwriting = inputs.count == 1 ? layer as? GradientOverwritingLayer : nil
        }
    }

    public private(set) var nodes: [Node] = []
    /// The nodes whose outputs the network returns, in order.
    public var outputs: [Int] = []

    /// Told as the backward finishes each node, so data-parallel training can start summing the gradients it has
    /// while the backward computes the rest. Nil: nothing is called.
    public weak var backwardObserver: BackwardObserver?

    /// When set, every node's forward and backward are timed into it.
    public var profile: NetworkProfile?

    /// A node whose output each forward copies into `tappedOutput` and whose output gradient each backward copies
    /// into `tappedGradient` (nil when no gradient reached it): the activation A and dL/dA that Grad-CAM reads.
    /// Nil keeps nothing, and costs nothing.
    public var tap: Int? {
        didSet { (tappedOutput, tappedGradient, plan) = (nil, nil, nil) }  // a tapped node is not written in place
    }
    public private(set) var tappedOutput: Tensor?
    public private(set) var tappedGradient: Tensor?

    public init() {}

    /// Appends a node and returns its index.
    /// - Precondition: `problem(adding:_:_:)` is nil: a unique name, earlier inputs, and a layer instance not in
    ///   the graph yet (a programming error in a builder, hence a precondition, not a thrown error).
    @discardableResult
    public func add(_ name: String, _ layer: Layer, _ inputs: Int...) -> Int { add(name, layer, inputs: inputs) }

    /// `add` with the inputs as an array, for a node whose input count is computed (UNet++'s concatenations).
    @discardableResult
    public func add(_ name: String, _ layer: Layer, inputs: [Int]) -> Int {
        if let problem = problem(adding: name, layer, inputs) { preconditionFailure(problem) }
        nodes.append(Node(name: name, layer: layer, inputs: inputs))
        (parameterList, bufferList) = (nil, nil)
        return nodes.count - 1
    }

    /// Why a node cannot be added, or nil. The same layer instance twice is refused: a layer caches one forward's
    /// activations for its backward, so a second call would overwrite the first's, and its parameters would be
    /// listed (and saved, and stepped) twice. Weight sharing, if ever wanted, needs its own layer.
    public func problem(adding name: String, _ layer: Layer, _ inputs: [Int]) -> String? {
        if nodes.contains(where: { $0.name == name }) { return "duplicate node name \(name)" }
        if !inputs.allSatisfy({ $0 >= Network.input && $0 < nodes.count }) { return "bad inputs for \(name)" }
        if let other = nodes.first(where: { $0.layer === layer }) {
            return "\(name): the layer instance of node \(other.name) is already in the network"
        }
        return nil
    }

    private var parameterList: [Parameter]?
    private var bufferList: [Tensor]?

    /// Fuses every ReLU that is the only reader of a convolution's output into that convolution: the convolution
    /// writes max(·, 0) as it stores its output (for free in Winograd's output transform) and the ReLU passes its
    /// input through, saving a pass over the activation and its memory. Gradients are unchanged: the ReLU's
    /// backward still masks with its (shared) output. Model builders call it; a network assembled by hand runs
    /// unfused unless asked.
    public func fuseActivations() {
        var readers = [Int](repeating: 0, count: nodes.count)
        for node in nodes { for j in node.inputs where j >= 0 { readers[j] += 1 } }
        for node in nodes {
            guard let relu = node.layer as? ReLU, node.inputs.count == 1, let j = node.inputs.first, j >= 0,
                let conv = nodes[j].layer as? Conv2D, readers[j] == 1, !outputs.contains(j)
            else { continue }
            conv.rectifiesOutput = true
            relu.inputIsRectified = true
        }
    }

    /// Every trainable parameter in `namedParameters` order, without the names. Built once: a training step asks
    /// for it, and `namedParameters` builds a string per parameter.
    public var parameters: [Parameter] {
        if let p = parameterList { return p }
        let p = nodes.flatMap { $0.layer.parameters }
        parameterList = p
        return p
    }

    /// Tells every parameter that its value was written from outside a training step (a load, a restore), so
    /// nothing derived from the old weights is used again (`Parameter.version`).
    public func noteWeightsChanged() {
        for p in parameters { p.noteValueChanged() }
    }

    /// Every buffer in `namedBuffers` order, without the names; built once.
    public var buffers: [Tensor] {
        if let b = bufferList { return b }
        let b = nodes.flatMap { $0.layer.buffers.map(\.value) }
        bufferList = b
        return b
    }

    /// Every trainable parameter with its full name, in a stable order.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        nodes.flatMap { node in node.layer.parameters.map { ("\(node.name).\($0.name)", $0) } }
    }

    /// Every buffer (running statistics) with its full name.
    public var namedBuffers: [(name: String, value: Tensor)] {
        nodes.flatMap { node in node.layer.buffers.map { ("\(node.name).\($0.name)", $0.value) } }
    }

    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.parameter.value.count } }

    /// The output shape of every node for an input of the given shape, or the first shape error.
    public func shapes(for inputShape: [Int]) throws -> [[Int]] {
        var shapes: [[Int]] = []
        for node in nodes {
            let ins = node.inputs.map { $0 == Network.input ? inputShape : shapes[$0] }
            do {
                shapes.append(try node.layer.outputShape(ins))
            } catch let e as ShapeError {
                throw ShapeError("\(node.name): \(e.description)")
            }
        }
        return shapes
    }

    private var hasForward = false
    private var inputShape: [Int] = []

    /// Runs the graph. With `training`, layers cache what the backward needs.
    /// - Precondition: `shapes(for: x.shape)` succeeds (callers validate untrusted input first).
    public func forward(_ x: Tensor, training: Bool) -> [Tensor] {
        forward(x, training: training, wanted: Array(outputs.indices)).map { $0! }
    }

    /// Scratch kept between calls so that a warm step allocates none of it: each node's output and gradient, and
    /// the plan for the last `wanted` outputs (which nodes run, and which node reads each output last).
    private var outputByNode: [Tensor?] = []
    private var gradientByNode: [Tensor?] = []
    /// Whether the graph may write into `gradientByNode[i]` (see the type's comment); meaningful while it is set.
    private var gradientIsOwned: [Bool] = []
    private var plan: (wanted: [Int], outputs: [Int], inputShape: [Int], needed: [Bool], lastUse: [Int])?
    /// In-place concatenation, planned with the rest: for a producer node (`ConcatenationProducer`) whose one reader
    /// is a `Concatenate` taking it first, the concatenation's node; else -1. The producer writes its output into
    /// the leading channels of the concatenation's buffer, made when the producer runs (`concatenationBuffer`),
    /// and its backward reads its gradient from there, so neither is ever a tensor of its own. Same values, same
    /// order of every sum: only where the floats live changes.
    private var writesInto: [Int] = []
    /// The output shape of every node, for the buffers made ahead of their concatenation.
    private var planShapes: [[Int]] = []
    private var concatenationBuffer: [Tensor?] = []
    /// Set by a training forward for each concatenation that ran in place, for its backward.
    private var ranInPlace: [Bool] = []
    /// Off to run every concatenation by copying (tests compare the two).
    nonisolated(unsafe) static var concatenatesInPlace = true
    /// How many concatenations the current plan runs in place (for tests).
    var inPlaceConcatenationCount: Int { writesInto.filter { $0 >= 0 }.count }
    /// The inputs of a node of several inputs and the gradients its backward returns: emptied after use but
    /// kept, so their storage is reused (each was an array per node per step).
    private var nodeInputs: [Tensor] = []
    private var nodeGradients: [Tensor] = []

    private func makePlan(_ wanted: [Int], _ inputShape: [Int]) -> (needed: [Bool], lastUse: [Int]) {
        if let p = plan, p.wanted == wanted, p.outputs == outputs, p.inputShape == inputShape,
            p.needed.count == nodes.count
        {
            return (p.needed, p.lastUse)
        }
        var needed = [Bool](repeating: false, count: nodes.count)
        for k in wanted { needed[outputs[k]] = true }
        for i in stride(from: nodes.count - 1, through: 0, by: -1) where needed[i] {
            for j in nodes[i].inputs where j >= 0 { needed[j] = true }
        }
        // The nodes that read each node's output, among those that run, in order: its last is its last use.
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (i, node) in nodes.enumerated() where needed[i] {
            for j in node.inputs where j >= 0 { readers[j].append(i) }
        }
        let lastUse = readers.map { $0.last ?? -1 }
        plan = (wanted, outputs, inputShape, needed, lastUse)
        outputByNode = [Tensor?](repeating: nil, count: nodes.count)
        gradientByNode = [Tensor?](repeating: nil, count: nodes.count)
        planInPlaceConcatenations(inputShape, needed: needed, readers: readers)
        planBatchNormFusions(needed: needed, readers: readers)
        return (needed, lastUse)
    }

    /// Off to run every BatchNorm of an inference forward as its own pass (tests compare the two).
    nonisolated(unsafe) static var foldsBatchNorm = true
    /// Off to run every ReLU after a BatchNorm as its own pass (tests compare the two).
    nonisolated(unsafe) static var fusesBatchNormReLU = true
    /// For a convolution node of the inference plan: the BatchNorm that reads it alone, folded into its kernels
    /// (with its ReLU where that is fused, `BatchNorm.rectifiesOutput`). That BatchNorm's node, the convolution's
    /// one reader, passes its input through in an inference forward.
    private var inferenceFold: [(conv: Conv2D, bn: BatchNorm)?] = []
    /// How many convolutions the current plan folds a BatchNorm into, and a ReLU too (for tests).
    var inferenceFoldCount: Int { inferenceFold.filter { $0 != nil }.count }
    var inferenceRectifyingFoldCount: Int { inferenceFold.filter { $0?.bn.rectifiesOutput == true }.count }

    /// BatchNorm → ReLU where the ReLU alone reads the BatchNorm's output, which is not returned or tapped: the
    /// BatchNorm writes max(·, 0) as it stores (`BatchNorm.rectifiesOutput`) and the ReLU passes it through, in
    /// training and inference, and in the backward the BatchNorm masks the gradient (recomputing the mask from its
    /// input) and the ReLU passes it through: the same bits, a pass over the activation fewer each way and no mask
    /// kept.
    /// Then, for inference, Conv → BatchNorm chains whose convolution output only that BatchNorm reads: each runs
    /// as one convolution with the BatchNorm folded in, and its ReLU if fused (a seventh of the pneumonia U-Net's
    /// inference went to the two passes). Planned with the taps and outputs, so a tapped node keeps its values.
    private func planBatchNormFusions(needed: [Bool], readers: [[Int]]) {
        inferenceFold = Array(repeating: nil, count: nodes.count)
        func alone(_ j: Int) -> Int? {
            guard readers[j].count == 1, !outputs.contains(j), j != tap, writesInto[j] < 0 else { return nil }
            return readers[j][0]
        }
        for node in nodes {
            guard let relu = node.layer as? ReLU, let j = node.inputs.first, j >= 0, nodes[j].layer is BatchNorm
            else { continue }
            relu.inputIsRectified = false
            relu.batchNormMasksGradient = false
        }
        for (i, node) in nodes.enumerated() {
            guard let bn = node.layer as? BatchNorm else { continue }
            bn.rectifiesOutput = false
            guard Network.fusesBatchNormReLU, needed[i], let k = alone(i), let relu = nodes[k].layer as? ReLU,
                writesInto[k] < 0
            else { continue }
            bn.rectifiesOutput = true
            relu.inputIsRectified = true
            relu.batchNormMasksGradient = true
        }
        guard Network.foldsBatchNorm else { return }
        for (j, node) in nodes.enumerated() where needed[j] {
            guard let conv = node.layer as? Conv2D, !conv.rectifiesOutput, let i = alone(j),
                let bn = nodes[i].layer as? BatchNorm, writesInto[i] < 0
            else { continue }
            inferenceFold[j] = (conv, bn)
        }
    }

    private func planInPlaceConcatenations(_ inputShape: [Int], needed: [Bool], readers: [[Int]]) {
        writesInto = [Int](repeating: -1, count: nodes.count)
        concatenationBuffer = [Tensor?](repeating: nil, count: nodes.count)
        ranInPlace = [Bool](repeating: false, count: nodes.count)
        planSignBits(needed: needed, readers: readers)
        guard Network.concatenatesInPlace, let shapes = try? shapes(for: inputShape) else { return }
        planShapes = shapes
        for (k, node) in nodes.enumerated() where needed[k] && node.layer is Concatenate && node.inputs.count > 1 {
            let p = node.inputs[0]
            guard p >= 0, readers[p].count == 1, !outputs.contains(p), p != tap, shapes[p].count == 4,
                nodes[p].inputs.count == 1, nodes[p].inputs[0] >= 0,  // the first layer's backward takes another path
                let producer = nodes[p].layer as? ConcatenationProducer, producer.writesIntoConcatenation
            else { continue }
            writesInto[p] = k
        }
    }

    /// Off to have every ReLU keep its output for its mask (tests compare the two).
    nonisolated(unsafe) static var keepsSignBits = true

    /// A ReLU whose output no reader keeps (`Layer.keepsInputs`: a pooling keeps its winners, a concatenation
    /// copies, an upsampling keeps a shape) keeps sign bits instead (`ReLU.keepsSignBits`): the U-Nets' encoder
    /// skips, otherwise alive from the forward until the encoder's backward beside their copies in the
    /// concatenations (Ronneberger 256 at batch 4: 120 MiB), and the decoder blocks' outputs that are upsampled.
    private func planSignBits(needed: [Bool], readers: [[Int]]) {
        for (i, node) in nodes.enumerated() {
            guard let relu = node.layer as? ReLU else { continue }
            let othersKeep = readers[i].contains { nodes[$0].layer.keepsInputs }
            relu.keepsSignBits =
                Network.keepsSignBits && needed[i] && !othersKeep && !outputs.contains(i) && i != tap
        }
    }

    /// Runs only the nodes that the outputs at `wanted` (indices into `outputs`) depend on; the others come back
    /// nil. A U-Net trained on image labels alone skips its whole decoder this way.
    public func forward(_ x: Tensor, training: Bool, wanted: [Int]) -> [Tensor?] {
        var result: [Tensor?] = []
        forward(x, training: training, wanted: wanted, into: &result)
        return result
    }

    /// `forward(_:training:wanted:)` with the outputs written into `result` (emptied first), an array the caller
    /// keeps from step to step: `Model` does, so a step makes no array.
    public func forward(_ x: Tensor, training: Bool, wanted: [Int], into result: inout [Tensor?]) {
        ComputeThread.check("Network.forward")
        let (needed, lastUse) = makePlan(wanted, x.shape)
        result.removeAll(keepingCapacity: true)
        // Layers cache what their backward needs themselves, so the graph drops every output after its last use,
        // in training too: a convolution's pre-activation output is freed once its ReLU has run.
        for i in nodes.indices where needed[i] {
            let node = nodes[i]
            if let unary = node.unary {
                let j = node.inputs[0]
                let input = j == Network.input ? x : outputByNode[j]!
                if !training, let fold = inferenceFold[i] {
                    outputByNode[i] = timed(i, backward: false) { fold.conv.forwardFoldingBatchNorm(fold.bn, input) }
                } else if !training, j >= 0, inferenceFold[j] != nil {
                    outputByNode[i] = input  // the BatchNorm its convolution folded in
                } else if writesInto[i] >= 0, let producer = unary as? ConcatenationProducer {
                    let y = TensorRecycler.tensor(planShapes[writesInto[i]])
                    timed(i, backward: false) {
                        producer.forward(input, training: training, into: y.data, imageStride: y.count / y.shape[0])
                    }
                    concatenationBuffer[writesInto[i]] = y
                } else {
                    outputByNode[i] = timed(i, backward: false) { unary.forward(input, training: training) }
                }
            } else if let y = concatenationBuffer[i], let concatenation = node.layer as? Concatenate {
                for j in node.inputs.dropFirst() { nodeInputs.append(j == Network.input ? x : outputByNode[j]!) }
                timed(i, backward: false) {
                    concatenation.forward(firstWritten: planShapes[node.inputs[0]], others: nodeInputs, into: y)
                }
                nodeInputs.removeAll(keepingCapacity: true)
                outputByNode[i] = y
                concatenationBuffer[i] = nil
                ranInPlace[i] = training
            } else {
                for j in node.inputs { nodeInputs.append(j == Network.input ? x : outputByNode[j]!) }
                outputByNode[i] = timed(i, backward: false) { node.layer.forward(nodeInputs, training: training) }
                nodeInputs.removeAll(keepingCapacity: true)
                ranInPlace[i] = false
            }
            if i == tap { tappedOutput = outputByNode[i]!.copy() }
            for j in node.inputs where j >= 0 && lastUse[j] == i && !outputs.contains(j) { outputByNode[j] = nil }
        }
        if training { hasForward = true; inputShape = x.shape }
        for (k, node) in outputs.enumerated() { result.append(wanted.contains(k) ? outputByNode[node] : nil) }
        for i in outputByNode.indices { outputByNode[i] = nil }
    }

    /// Backpropagates gradients of the loss with respect to the outputs (nil for an output the loss ignores)
    /// and returns the gradient with respect to the network input. Parameter gradients accumulate.
    public func backward(_ gradOutputs: [Tensor?]) -> Tensor {
        backward(gradOutputs, inputGradient: true)!
    }

    /// The backward of a training step, which needs parameter gradients only: the layers that read the network's
    /// input skip computing a gradient for it (a third of the first convolution's backward).
    public func backwardParameters(_ gradOutputs: [Tensor?]) {
        _ = backward(gradOutputs, inputGradient: false)
    }

    private func backward(_ gradOutputs: [Tensor?], inputGradient: Bool) -> Tensor? {
        ComputeThread.check("Network.backward")
        precondition(hasForward, "Network.backward without a training forward")
        if gradientByNode.count != nodes.count { gradientByNode = [Tensor?](repeating: nil, count: nodes.count) }
        if gradientIsOwned.count != nodes.count { gradientIsOwned = [Bool](repeating: false, count: nodes.count) }
        if tap != nil { tappedGradient = nil }
        for (k, g) in zip(outputs, gradOutputs) {
            guard let g else { continue }
            // The caller's tensor is never written: the graph sums into its own copy.
            let copy = TensorRecycler.tensor(g.shape)
            copy.assign(g)
            accumulate(&gradientByNode[k], &gradientIsOwned[k], copy, shared: false)
        }
        var inputGrad: Tensor?
        var inputGradIsOwned = false
        for i in stride(from: nodes.count - 1, through: 0, by: -1) {
            // Node i's parameter gradients are final once it is done (a layer is in the graph once), also when no
            // gradient reached it (they stay zero).
            defer { backwardObserver?.backwardFinished(node: i) }
            guard let g = gradientByNode[i] else { continue }
            if i == tap { tappedGradient = g.copy() }
            let node = nodes[i]
            let gIsOwned = gradientIsOwned[i]
            gradientByNode[i] = nil
            if !inputGradient && node.inputs.allSatisfy({ $0 == Network.input }) {
                timed(i, backward: true) { node.layer.backwardParametersOnly(g) }
                node.layer.releaseCache()
                continue
            }
            if let unary = node.unary {
                // A producer written in place reads its gradient from its concatenation's (held in its slot).
                let inPlace = writesInto[i] >= 0 && ranInPlace[writesInto[i]]
                let gin = timed(i, backward: true) {
                    if inPlace {
                        return (unary as! ConcatenationProducer).backward(
                            UnsafePointer(g.data), imageStride: g.count / g.shape[0])
                    }
                    // dL/dx over dL/dy where the graph owns dL/dy: it is then this node's to hand on, unshared.
                    if gIsOwned, let overwriting = node.overwriting { return overwriting.backward(overwriting: g) }
                    return unary.backwardReleasingCache(g)
                }
                unary.releaseCache()
                let j = node.inputs[0]
                let shared = !inPlace && !gIsOwned && gin.data == g.data
                if j == Network.input {
                    accumulate(&inputGrad, &inputGradIsOwned, gin, shared: shared)
                } else {
                    accumulate(&gradientByNode[j], &gradientIsOwned[j], gin, shared: shared)
                }
                continue
            }
            let inPlace = ranInPlace[i]
            if inPlace, let concatenation = node.layer as? Concatenate {
                timed(i, backward: true) { concatenation.backward(g, into: &nodeGradients, skippingFirst: true) }
                // The first input's producer takes this very gradient and reads its own channels of it.
                gradientByNode[node.inputs[0]] = g
                gradientIsOwned[node.inputs[0]] = false
            } else {
                timed(i, backward: true) { node.layer.backward(g, into: &nodeGradients) }
            }
            // Its activations are needed no more: freeing them now, not after the whole backward, lets the
            // gradients of the earlier layers reuse their memory (the classifier's peak fell by a fifth).
            node.layer.releaseCache()
            let skipped = inPlace ? 1 : 0
            for k in node.inputs.indices.dropFirst(skipped) {
                let (j, gin) = (node.inputs[k], nodeGradients[k - skipped])
                var shared = !gIsOwned && gin.data == g.data
                for m in nodeGradients.indices where m != k - skipped && nodeGradients[m].data == gin.data {
                    shared = true
                }
                if j == Network.input {
                    accumulate(&inputGrad, &inputGradIsOwned, gin, shared: shared)
                } else {
                    accumulate(&gradientByNode[j], &gradientIsOwned[j], gin, shared: shared)
                }
            }
            nodeGradients.removeAll(keepingCapacity: true)
        }
        for i in gradientByNode.indices { gradientByNode[i] = nil }
        releaseCaches()
        guard inputGradient else { return nil }
        return inputGrad ?? TensorRecycler.zeros(inputShape)
    }

    /// Runs one node's forward or backward, timed into `profile` when there is one.
    @inline(__always)
    private func timed<T>(_ node: Int, backward: Bool, _ body: () -> T) -> T {
        guard let profile else { return body() }
        return profile.time(node, backward: backward, body)
    }

    /// Adds gradient `g` into `slot`. An empty slot adopts `g`, owned unless `shared` (another slot holds the same
    /// storage); a slot the graph owns sums in place; a shared one is replaced by a new buffer holding the sum,
    /// so the tensor it shares is never written.
    private func accumulate(_ slot: inout Tensor?, _ owned: inout Bool, _ g: Tensor, shared: Bool) {
        guard let s = slot else {
            slot = g
            owned = !shared
            return
        }
        if owned {
            addTensors(s, g, into: s)
        } else {
            let sum = TensorRecycler.tensor(s.shape)
            addTensors(s, g, into: sum)
            slot = sum
            owned = true
        }
    }

    /// Drops cached activations (after a backward, or when a forward's step is abandoned).
    public func releaseCaches() {
        hasForward = false
        for i in ranInPlace.indices { ranInPlace[i] = false }
        for node in nodes { node.layer.releaseCache() }
    }

    public func zeroGradients() {
        for p in parameters { p.grad.zero() }
    }
}
