// Letters: O output channels, C input channels.

/// One convolution's Winograd-transformed kernels U (36, O, C), kept between inference calls and made again only
/// when the weights have changed (`Parameter.version`).
///
/// Why: every call used to transform its kernels afresh. At batch 1 and in the deep layers (few tiles, many
/// channels) the transform of 36·O·C floats is a sizeable part of the call, and between two `predict` requests
/// the weights do not change. Training forwards do not use it: the weights change every step, and a kept copy per
/// layer would add to the step's resident memory for nothing.
///
/// In debug builds the cache also keeps the raw weights it was made from and traps when they changed without a
/// version bump: a writer of weights that forgot `noteValueChanged` shows in the test suite, not as stale outputs.
final class WinogradKernelCache {
    private var kernels: UnsafeMutablePointer<Float>?
    private var capacity = 0
    /// The (weight version, O, C) the kernels were made for; nil before the first call.
    private var key: (version: Int, o: Int, c: Int)?
    /// How many times the kernels were transformed: for the tests that check the cache is used and invalidated.
    private(set) var transformCount = 0
    /// Bytes of transformed kernels held (for the memory breakdown of `unet-bench`).
    var byteCount: Int { capacity * 4 }
    #if DEBUG
    private var source: [Float] = []
    #endif

    deinit { kernels.map { UnsafeMutableRawPointer($0).deallocate() } }

    /// Whether an inference call of `tiles` tiles keeps its transformed kernels. The transform costs the products
    /// about 1/T of their work, but a kept copy is four times the weights, for good: Ronneberger's at batch 4
    /// (256 tiles and more in every Winograd layer) were a quarter of its inference RSS. So kernels are kept for
    /// calls of few tiles (batch 1, the deep layers), where the transform is a sizeable part of the call, and
    /// transformed into the shared workspace otherwise (as in training). The same kernels either way.
    static func keeps(tiles: Int) -> Bool { tiles <= maximumKeptTiles }
    static let maximumKeptTiles = 128

    /// Frees the kernels (a call of many tiles); the next kept call transforms again.
    func release() {
        kernels.map { UnsafeMutableRawPointer($0).deallocate() }
        (kernels, capacity, key) = (nil, 0, nil)
    }

    /// U (36, O, C) for `weight` (O, C, 3, 3), transformed now only if the weights or the shape changed since the
    /// last call. The pointer is valid until the next call.
    func kernels(of weight: Parameter, o: Int, c: Int) -> UnsafePointer<Float> {
        let count = 36 * o * c
        if let key, key.version == weight.version, key.o == o, key.c == c, let kernels {
            #if DEBUG
            precondition(
                source.elementsEqual(weight.value.buffer),
                "weights changed without Parameter.noteValueChanged(): the transformed kernels are stale")
            #endif
            return UnsafePointer(kernels)
        }
        if capacity < count {
            kernels.map { UnsafeMutableRawPointer($0).deallocate() }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            kernels = raw.bindMemory(to: Float.self, capacity: count)
            capacity = count
        }
        winogradTransformKernels(weight.value.data, o: o, c: c, flipped: false, kernels!)
        key = (weight.version, o, c)
        transformCount += 1
        #if DEBUG
        source = weight.value.array
        #endif
        return UnsafePointer(kernels!)
    }
}
