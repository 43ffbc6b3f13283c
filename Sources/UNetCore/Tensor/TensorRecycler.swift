import Foundation

/// The tensors layers make on every step (outputs, gradients, what they keep for the backward), handed out again
/// on the next step instead of made anew, so that a warm step makes no heap allocation.
///
/// Their storage already came from `TensorStorage` without malloc; the Swift object of each tensor, and often
/// its shape array, did not: about a hundred mallocs in a training step of the classifier.
///
/// How: every tensor made here stays listed. Before each request, the list is swept: a tensor that only the
/// list still references is out of use, and it retires. A large one gives its storage back to `TensorStorage`
/// and keeps its (now stale) address and shape; a small one (below `TensorStorage.minimumRegionFloats`, whose
/// storage is a malloc) keeps its storage. A request then takes a retired tensor of the same shape: a large one
/// only if the address `TensorStorage` just gave out is the one it had. Warm steps repeat the same requests in
/// the same order, and `TensorStorage` places each where it was the step before, so every request finds its
/// tensor of the step before. Anything else (a new shape, a first step) makes a new tensor, as before.
///
/// Memory: an out-of-use tensor gives its storage back at the next request rather than at its last release. No
/// storage is taken between the two, so peaks are unchanged; `collect()` sweeps on demand.
///
/// `shape`, `count` and `data` never change on a tensor; only whether it owns its storage and, for a view, whose
/// storage it shows. Layers and the trainer use it; the prefetch thread's tensors do not come from here.
enum TensorRecycler {
    private static let lock = NSLock()
    /// Tensors handed out and maybe still in use.
    nonisolated(unsafe) private static var issued: [Tensor] = []
    /// Retired tensors, waiting to be handed out again.
    nonisolated(unsafe) private static var retired: [Tensor] = []
    /// Retired tensors kept at most, and floats of small storage they may hold; beyond either, the oldest go
    /// (requests of ever-changing shapes would only accumulate them).
    static let maximumRetired = 4096
    static let maximumRetiredSmallFloats = 4 << 20
    nonisolated(unsafe) private static var retiredSmallFloats = 0

    /// A tensor of `shape` (contents unspecified) matching `matches`, made by `makeShape` if none is retired.
    @inline(__always)
    private static func take(count: Int, _ matches: ([Int]) -> Bool, _ makeShape: () -> [Int]) -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        sweep()
        let t: Tensor
        if count < TensorStorage.minimumRegionFloats {
            if let i = retired.firstIndex(where: { $0.ownsStorage && $0.count == count && matches($0.shape) }) {
                t = retired.remove(at: i)
                retiredSmallFloats -= count
            } else {
                t = Tensor(adopting: TensorStorage.allocate(count), shape: makeShape(), count: count)
            }
        } else {
            let p = TensorStorage.allocate(count)
            if let i = retired.firstIndex(where: {
                !$0.ownsStorage && $0.data == p && $0.count == count && matches($0.shape)
            }) {
                t = retired.remove(at: i)
                t.ownsStorage = true
            } else {
                t = Tensor(adopting: p, shape: makeShape(), count: count)
            }
        }
        issued.append(t)
        return t
    }

    /// Retires every issued tensor nobody else references. Called with the lock held.
    private static func sweep() {
        var i = 0
        while i < issued.count {
            guard isKnownUniquelyReferenced(&issued[i]) else { i += 1; continue }
            issued.swapAt(i, issued.count - 1)
            let t = issued.removeLast()
            if t.owner != nil {
                t.owner = nil  // a view: let go of the tensor it showed
            } else if t.count >= TensorStorage.minimumRegionFloats {
                TensorStorage.release(t.data, count: t.count)
                t.ownsStorage = false
            } else if t.ownsStorage {
                retiredSmallFloats += t.count
            }
            retired.append(t)
        }
        while retired.count > maximumRetired || retiredSmallFloats > maximumRetiredSmallFloats {
            let oldest = retired.removeFirst()  // freed with its small storage, if it has any
            if oldest.ownsStorage { retiredSmallFloats -= oldest.count }
        }
    }

    /// How many tensors wait to be handed out again, and the floats of small storage they hold (for tests).
    static var retiredCounts: (tensors: Int, smallFloats: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (retired.count, retiredSmallFloats)
    }

    /// A tensor of `shape`, contents unspecified.
    static func tensor(_ shape: [Int]) -> Tensor {
        take(count: shape.reduce(1, *), { $0 == shape }, { shape })
    }

    /// A tensor of shape [d0], contents unspecified; no array is made unless the tensor is new.
    static func tensor(_ d0: Int) -> Tensor {
        take(count: d0, { $0.count == 1 && $0[0] == d0 }, { [d0] })
    }

    /// A tensor of shape [d0, d1], contents unspecified.
    static func tensor(_ d0: Int, _ d1: Int) -> Tensor {
        take(count: d0 * d1, { $0.count == 2 && $0[0] == d0 && $0[1] == d1 }, { [d0, d1] })
    }

    /// A tensor of shape [d0, d1, d2], contents unspecified.
    static func tensor(_ d0: Int, _ d1: Int, _ d2: Int) -> Tensor {
        take(count: d0 * d1 * d2, { $0.count == 3 && $0[0] == d0 && $0[1] == d1 && $0[2] == d2 }, { [d0, d1, d2] })
    }

    /// A tensor of shape [d0, d1, d2, d3], contents unspecified.
    static func tensor(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int) -> Tensor {
        take(
            count: d0 * d1 * d2 * d3, { $0.count == 4 && $0[0] == d0 && $0[1] == d1 && $0[2] == d2 && $0[3] == d3 },
            { [d0, d1, d2, d3] })
    }

    /// A zero-filled tensor of `shape`.
    static func zeros(_ shape: [Int]) -> Tensor {
        let t = tensor(shape)
        t.zero()
        return t
    }

    /// `Tensor(viewing: other, shape: shape)`, from a retired view of the same storage and shape when there is one.
    static func view(of other: Tensor, shape: [Int]) -> Tensor {
        precondition(shape.reduce(1, *) == other.count, "cannot view \(other.shape) as \(shape)")
        return view(of: other, { $0 == shape }, { shape })
    }

    /// A view of `other` as [d0, d1] (Flatten's output), without making an array unless the view is new.
    static func view(of other: Tensor, _ d0: Int, _ d1: Int) -> Tensor {
        precondition(d0 * d1 == other.count, "cannot view \(other.shape) as [\(d0), \(d1)]")
        return view(of: other, { $0.count == 2 && $0[0] == d0 && $0[1] == d1 }, { [d0, d1] })
    }

    /// A view of `other` as [d0, d1, d2] (K-class mask labels).
    static func view(of other: Tensor, _ d0: Int, _ d1: Int, _ d2: Int) -> Tensor {
        precondition(d0 * d1 * d2 == other.count, "cannot view \(other.shape) as [\(d0), \(d1), \(d2)]")
        return view(of: other, { $0.count == 3 && $0[0] == d0 && $0[1] == d1 && $0[2] == d2 }, { [d0, d1, d2] })
    }

    @inline(__always)
    private static func view(of other: Tensor, _ matches: ([Int]) -> Bool, _ makeShape: () -> [Int]) -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        sweep()
        let t: Tensor
        if let i = retired.firstIndex(where: {
            !$0.ownsStorage && $0.data == other.data && $0.count == other.count && matches($0.shape)
        }) {
            t = retired.remove(at: i)
            t.owner = other.owner ?? other
        } else {
            t = Tensor(viewing: other, shape: makeShape())
        }
        issued.append(t)
        return t
    }

    /// Retires what is out of use now, so its storage is free (`TensorStorage.liveByteCount` counts it no more).
    static func collect() {
        lock.lock()
        defer { lock.unlock() }
        sweep()
    }

    /// Collects and then forgets every retired tensor, freeing the small ones' storage (when the model changes).
    static func drain() {
        lock.lock()
        defer { lock.unlock() }
        sweep()
        retired.removeAll()
        retiredSmallFloats = 0
    }
}
