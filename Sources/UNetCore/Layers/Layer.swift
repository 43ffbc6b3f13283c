/// A trainable tensor and the gradient accumulated for it.
///
/// Gradients accumulate (`+=`) across backward calls and are zeroed explicitly (`Network.zeroGradients`).
public final class Parameter {
    /// The local name inside its layer (`weight`, `bias`), as PyTorch's state_dict spells it.
    public let name: String
    public let value: Tensor
    /// Made (zeroed) on first use: a model that only infers never touches its gradients' pages, which were an
    /// eighth of Ronneberger's inference RSS (Examples/benchmarks/RESULTS.md, issue 21's memory section).
    public var grad: Tensor {
        if let g = gradient { return g }
        let g = Tensor(zeros: value.shape)
        gradient = g
        return g
    }
    private var gradient: Tensor?
    /// Whether `grad` has been made.
    public var hasGradient: Bool { gradient != nil }
    /// Bumped by every writer of `value` (`noteValueChanged`): the optimizer's step, checkpoint and Keras loads,
    /// restoring the best weights. What a layer derives from its weights and keeps between calls (Winograd's
    /// transformed kernels, `WinogradKernelCache`) is valid while the version it was made at is current.
    public private(set) var version = 0

    public init(_ name: String, _ value: Tensor) {
        self.name = name
        self.value = value
    }

    /// Records that `value` was written: whatever was derived from the old values is stale from now on.
    public func noteValueChanged() { version &+= 1 }
}

/// A layer: a differentiable function of one or more input tensors, with its forward and backward passes
/// side by side. The forward caches what the backward needs; the backward takes dL/dy, accumulates dL/dθ
/// into its parameters' gradients and returns dL/dx for each input.
///
/// Gradients change hands: the backward must not write into dL/dy (another node may share it), and the tensors
/// it returns belong to the network from then on (the layer keeps no reference to write or read later). It may
/// return dL/dy itself, or one tensor for several inputs (`Add`): `Network.backward` never writes into a
/// gradient that another slot shares.
public protocol Layer: AnyObject {
    /// The layer's kind as the summary shows it: "Conv2D", "MaxPool2D", ...
    var kind: String { get }
    var parameters: [Parameter] { get }
    /// Non-trainable state saved in checkpoints (BatchNorm's running statistics), named as PyTorch does.
    var buffers: [(name: String, value: Tensor)] { get }
    /// The output shape for the given full input shapes (batch first), or a `ShapeError`.
    func outputShape(_ inputShapes: [[Int]]) throws -> [Int]
    func forward(_ inputs: [Tensor], training: Bool) -> Tensor
    func backward(_ gradOutput: Tensor) -> [Tensor]
    /// `backward`, appending the input gradients to `gradients`: the network passes the same array every step,
    /// so a layer of several inputs makes no array per step when it implements this.
    func backward(_ gradOutput: Tensor, into gradients: inout [Tensor])
    /// The backward for a layer whose input gradients nobody reads (the first layer's, in training): parameter
    /// gradients accumulate as in `backward`; layers that can skip the input gradient's work do.
    func backwardParametersOnly(_ gradOutput: Tensor)
    /// Drops what the forward cached for the backward, so activations do not outlive a step.
    func releaseCache()
    /// Whether what the forward keeps for the backward holds on to an input's values (a convolution keeps its
    /// input, `Flatten`'s output is a view of it). False for the layers that keep shapes or indices alone and
    /// return new storage: a ReLU read only by such layers keeps sign bits instead of its output
    /// (`Network.planSignBits`). True unless a layer says otherwise, the safe answer.
    var keepsInputs: Bool { get }
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [(name: String, value: Tensor)] { [] }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }
    public var keepsInputs: Bool { true }
    public func backwardParametersOnly(_ gradOutput: Tensor) { _ = backward(gradOutput) }
    public func backward(_ gradOutput: Tensor, into gradients: inout [Tensor]) {
        gradients.append(contentsOf: backward(gradOutput))
    }
}

/// A layer of several inputs that appends its gradients to the network's array (`backward(_:into:)`, no array
/// per step); the array-returning `backward` follows from it.
public protocol MultiInputLayer: Layer {}

extension MultiInputLayer {
    public func backward(_ gradOutput: Tensor) -> [Tensor] {
        var gradients: [Tensor] = []
        backward(gradOutput, into: &gradients)
        return gradients
    }
}

/// A layer of one input, which most are.
public protocol UnaryLayer: Layer {
    func outputShape(_ inputShape: [Int]) throws -> [Int]
    func forward(_ x: Tensor, training: Bool) -> Tensor
    func backward(_ gradOutput: Tensor) -> Tensor
    /// `backward` then `releaseCache`, for the network's backward, which needs the cache no more: a layer may let
    /// its cache go before it makes dL/dx, so that dL/dx can take the cache's memory (`Conv2D`).
    func backwardReleasingCache(_ gradOutput: Tensor) -> Tensor
}

extension UnaryLayer {
    public func outputShape(_ inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1 else { throw ShapeError("\(kind) takes one input, got \(inputShapes.count)") }
        return try outputShape(inputShapes[0])
    }
    public func forward(_ inputs: [Tensor], training: Bool) -> Tensor { forward(inputs[0], training: training) }
    public func backward(_ gradOutput: Tensor) -> [Tensor] { [backward(gradOutput)] }
    public func backwardReleasingCache(_ gradOutput: Tensor) -> Tensor {
        let dx = backward(gradOutput)
        releaseCache()
        return dx
    }
}

/// A one-input layer that can write its output straight into the leading channels of a concatenation's buffer and
/// read its output gradient back from there (`Network`'s in-place concatenation), so that its own output and
/// output gradient are never made: the decoder's upsampled tensor, the largest of the U-Nets, exists once.
/// Image i of the output (or of dL/dy) is at `base + i * imageStride`, laid out as the layer's own output image.
protocol ConcatenationProducer: UnaryLayer {
    /// Whether this layer, as configured, has the strided paths.
    var writesIntoConcatenation: Bool { get }
    /// `forward`, writing image i of the output at `y + i * imageStride` and nothing else of the buffer.
    func forward(_ x: Tensor, training: Bool, into y: UnsafeMutablePointer<Float>, imageStride: Int)
    /// `backward`, reading image i of dL/dy at `dy + i * imageStride`.
    func backward(_ dy: UnsafePointer<Float>, imageStride: Int) -> Tensor
}

/// A one-input layer whose backward can write dL/dx over dL/dy (`ReLU`): the network calls it when it owns dL/dy
/// (no other slot shares it), so the backward holds one gradient of the layer's size instead of two.
protocol GradientOverwritingLayer: UnaryLayer {
    /// `backward`, writing dL/dx into `dy` and returning it.
    func backward(overwriting dy: Tensor) -> Tensor
}

/// A layer that draws random numbers in training (`Dropout`, `DropPath`) from its own seeded generator, whose state
/// checkpoints keep so that a resumed run draws what the uninterrupted one would have.
public protocol StochasticLayer: AnyObject {
    var rng: RandomGenerator { get set }
}

/// An input whose shape does not fit a layer or a model.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Glorot (Xavier) uniform and He initialisers, seeded.
public enum Initializer: String, Sendable {
    case glorotUniform = "glorot_uniform"
    case heNormal = "he_normal"
    case heUniform = "he_uniform"
    case zeros

    /// Fills `t` given the fan-in and fan-out of the layer it belongs to.
    public func fill(_ t: Tensor, fanIn: Int, fanOut: Int, rng: inout RandomGenerator) {
        switch self {
        case .glorotUniform:
            let limit = (6.0 / Float(fanIn + fanOut)).squareRoot()
            for i in 0..<t.count { t[i] = rng.uniform(-limit, limit) }
        case .heUniform:
            let limit = (6.0 / Float(fanIn)).squareRoot()
            for i in 0..<t.count { t[i] = rng.uniform(-limit, limit) }
        case .heNormal:
            let std = (2.0 / Float(fanIn)).squareRoot()
            for i in 0..<t.count { t[i] = std * rng.normal() }
        case .zeros:
            t.zero()
        }
    }
}

func expectRank(_ shape: [Int], _ rank: Int, _ kind: String) throws {
    guard shape.count == rank else { throw ShapeError("\(kind) expects a rank-\(rank) input, got \(shape)") }
}
