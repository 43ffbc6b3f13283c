/// A dense float32 tensor in row-major order (NCHW for images, as PyTorch).
///
/// `Tensor` is a reference type: layers cache their inputs for the backward pass without copying, and
/// kernels write through `data` directly. Storage is 64-byte aligned for SIMD and BLAS.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor of the given shape.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = TensorStorage.allocate(count)
        data.initialize(repeating: 0, count: max(count, 1))
    }

    /// A tensor whose contents are unspecified: for kernels that overwrite every element (skips the memset).
    public init(uninitialized shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = TensorStorage.allocate(count)
    }

    /// A tensor over storage already taken from `TensorStorage` for `shape`'s element count (`TensorRecycler`).
    init(adopting storage: UnsafeMutablePointer<Float>, shape: [Int], count: Int) {
        self.shape = shape
        self.count = count
        self.data = storage
    }

    /// The tensor whose storage this one shares, if it is a view (`init(viewing:shape:)`); it is kept alive by the
    /// view and frees the storage itself. Changed only by `TensorRecycler`, which hands views out again.
    var owner: Tensor?
    /// Whether `data` is this tensor's own to free: not for views, nor for recycled tensors that have given their
    /// storage back while they wait to be handed out again.
    var ownsStorage = true

    /// A tensor of another shape over `other`'s storage (same element count): a reshape without a copy. Writes
    /// through either are seen by both, so views are for layers whose outputs nobody writes in place (Flatten).
    public init(viewing other: Tensor, shape: [Int]) {
        precondition(shape.reduce(1, *) == other.count, "cannot view \(other.shape) as \(shape)")
        self.shape = shape
        self.count = other.count
        self.data = other.data
        self.owner = other.owner ?? other
        self.ownsStorage = false
    }

    /// A tensor holding a copy of `values`, which must have `shape`'s element count.
    public convenience init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A tensor of the given shape with every element `value`.
    public convenience init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        data.update(repeating: value, count: count)
    }

    deinit { if ownsStorage { TensorStorage.release(data, count: count) } }

    public var rank: Int { shape.count }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }
    public var array: [Float] { Array(buffer) }

    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// An independent copy.
    public func copy() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    public func zero() { data.update(repeating: 0, count: count) }

    /// Copies `other`'s values into this tensor (same element count).
    public func assign(_ other: Tensor) {
        precondition(other.count == count, "assign: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }

    /// `self += other` elementwise.
    public func add(_ other: Tensor) {
        precondition(other.count == count, "add: \(other.shape) to \(shape)")
        for i in 0..<count { data[i] += other.data[i] }
    }

    /// Pointer to image `n` of a batched tensor (first dimension is the batch).
    @inline(__always)
    public func image(_ n: Int) -> UnsafeMutablePointer<Float> { data + n * (count / shape[0]) }

    public var sum: Double {
        var s = 0.0
        for i in 0..<count { s += Double(data[i]) }
        return s
    }

    public var isFinite: Bool { allFinite(data, count) }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = (0..<min(count, 6)).map { String(data[$0]) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(head)\(count > 6 ? ", ..." : "")])"
    }
}
