/// The layout of an EfficientNet encoder (b0 ... b3) as segmentation_models_pytorch builds it: every MBConv block's
/// channels, kernel, stride and static padding, the stem's, and which block outputs the decoder takes as skips.
/// `EffUNetBuilder` builds from it and `ModelSizeEstimate` counts from it, so the two cannot drift apart.
///
/// Compound scaling as the paper's code (`efficientnet_pytorch`, vendored by smp as `_efficientnet.py`): channels
/// are `round_filters(c · width)` (to the nearest multiple of 8, never below 8 nor under 90% of the product),
/// repeats `ceil(r · depth)`. The padding is TensorFlow's "same" fixed once for the variant's native resolution
/// (224, 240, 260, 300), as smp's `Conv2dStaticSamePadding` does: at another input size the windows stay where
/// they were for that resolution (b1 at 224 differs from true "same" by a pixel in block 16), which is what lets
/// smp's weights give smp's outputs here at any size.
public struct EfficientNetPlan: Sendable, Equatable {
    /// One MBConv block: [expand 1x1 + BN + swish] -> depthwise k x k + BN + swish -> squeeze-excitation ->
    /// project 1x1 + BN, with a drop-path residual when `residual`.
    public struct Block: Sendable, Equatable {
        public let input, expanded, squeezed, output: Int
        public let kernel, stride: Int
        /// The depthwise convolution's static padding.
        public let padding: Padding
        /// Whether the block adds its input (stride 1 and as many channels out as in).
        public var residual: Bool { stride == 1 && input == output }
        public var expands: Bool { expanded != input }
    }

    /// The variants the engine builds, as smp names its encoders.
    public enum Variant: String, Sendable, CaseIterable {
        case b0 = "efficientnet-b0", b1 = "efficientnet-b1", b2 = "efficientnet-b2", b3 = "efficientnet-b3"

        /// (width, depth, resolution) as `efficientnet_params`.
        var coefficients: (width: Double, depth: Double, resolution: Int) {
            switch self {
            case .b0: return (1.0, 1.0, 224)
            case .b1: return (1.0, 1.1, 240)
            case .b2: return (1.1, 1.2, 260)
            case .b3: return (1.2, 1.4, 300)
            }
        }

        /// The blocks whose outputs are the skips at 1/4, 1/8, 1/16 and 1/32, smp's `out_indexes` (b0's third is
        /// the first block of stage 5, not the end of stage 4: smp's table, kept for its weights' sake).
        var outIndexes: [Int] {
            switch self {
            case .b0: return [2, 4, 8, 15]
            case .b1, .b2: return [4, 7, 15, 22]
            case .b3: return [4, 7, 17, 25]
            }
        }
    }

    /// The base network (B0): (repeats, kernel, stride, expansion, input, output) per stage.
    static let stages = [
        (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
        (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
    ]

    public let variant: Variant
    public let stemChannels: Int
    /// The stem convolution's static padding (3x3, stride 2).
    public let stemPadding: Padding
    public let blocks: [Block]
    /// The unused 1x1 head convolution's width (1280 for b0 and b1), kept so that the names match smp's.
    public let headChannels: Int
    public let outIndexes: [Int]

    public init(_ variant: Variant) {
        self.variant = variant
        let (width, depth, resolution) = variant.coefficients
        func round(_ filters: Int) -> Int {
            let f = Double(filters) * width
            var rounded = max(8, Int(f + 4) / 8 * 8)
            if Double(rounded) < 0.9 * f { rounded += 8 }
            return rounded
        }
        var size = resolution
        /// TensorFlow "same" for a k x k window of `stride` over `size`, split as smp does (the odd pixel at the
        /// bottom and right); `size` moves on to the output's.
        func staticSame(_ kernel: Int, _ stride: Int) -> Padding {
            let out = (size + stride - 1) / stride
            let total = max((out - 1) * stride + kernel - size, 0)
            size = out
            return .explicit(top: total / 2, bottom: total - total / 2, left: total / 2, right: total - total / 2)
        }
        stemChannels = round(32)
        stemPadding = staticSame(3, 2)
        var blocks: [Block] = []
        for (repeats, kernel, stride, expansion, input, output) in Self.stages {
            let (cin, cout) = (round(input), round(output))
            for r in 0..<Int((Double(repeats) * depth).rounded(.up)) {
                let blockIn = r == 0 ? cin : cout
                let s = r == 0 ? stride : 1
                // The squeeze width is a quarter of the block's input, before expansion.
                blocks.append(
                    Block(
                        input: blockIn, expanded: blockIn * expansion, squeezed: max(1, blockIn / 4),
                        output: cout, kernel: kernel, stride: s, padding: staticSame(kernel, s)))
            }
        }
        self.blocks = blocks
        headChannels = round(1280)
        outIndexes = variant.outIndexes
    }

    /// The encoder's feature widths the decoder takes, finest first: the stem's (1/2), then each out index's.
    public var skipChannels: [Int] { [stemChannels] + outIndexes.map { blocks[$0].output } }
}
