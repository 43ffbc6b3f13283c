import TestSupport
import UNetCore
import XCTest

// PyTorch's values for the layers of issue 14, written by `efficientnet_layer_cases()` in
// `Tests/fixtures/make_golden.py` (`python3 Tests/fixtures/make_golden.py efficientnet_layers`), with the
// tolerances of `GoldenTests` (atol 1e-5, rtol 1e-4). The Python above each test is the gist of its fixture;
// F.pad takes (left, right, top, bottom), the engine's `Padding.sides` (top, bottom, left, right).
// DropPath has no golden values: its masks come from the engine's generator; its tests check the rule instead.
extension GoldenTests {
    func depthwise(_ c: Int, _ k: Int, stride: Int = 1, padding: Padding, bias: Bool = true) -> DepthwiseConv2D {
        var rng = RandomGenerator(seed: 0)
        return DepthwiseConv2D(channels: c, kernelSize: k, stride: stride, padding: padding, useBias: bias, rng: &rng)
    }

    // conv = lambda pads, stride, groups: lambda x, weight, bias=None: F.conv2d(F.pad(x, pads), weight, bias,
    //                                                                            stride=stride, groups=groups)
    // layer_case("depthwise3x3_same", conv((1, 1, 1, 1), 1, 4), {"x": rand((2, 4, 7, 6))},
    //            {"weight": rand((4, 1, 3, 3), -0.5, 0.5), "bias": rand((4,), -0.5, 0.5)})
    // layer_case("depthwise3x3_same_stride2", conv((0, 1, 1, 1), 2, 4), {"x": rand((2, 4, 7, 8))}, ... with bias)
    func testDepthwiseConv2DSame() throws {
        try checkLayer(depthwise(4, 3, padding: .same), "depthwise3x3_same")
        try checkLayer(depthwise(4, 3, padding: .explicit(1)), "depthwise3x3_same")
        // TensorFlow's "same" at stride 2 (H = 7 pads (1, 1), W = 8 pads (0, 1)), and the same by side.
        try checkLayer(depthwise(4, 3, stride: 2, padding: .same), "depthwise3x3_same_stride2")
        try checkLayer(
            depthwise(4, 3, stride: 2, padding: .sides(top: 1, bottom: 1, left: 0, right: 1)),
            "depthwise3x3_same_stride2")
    }

    // smp's static padding of efficientnet-b1's block 5, no bias:
    // layer_case("depthwise5x5_stride2_static", conv((1, 2, 1, 2), 2, 3), {"x": rand((1, 3, 9, 10))},
    //            {"weight": rand((3, 1, 5, 5), -0.5, 0.5)})
    // layer_case("depthwise5x5_pad2", conv((2, 2, 2, 2), 1, 2), {"x": rand((2, 2, 6, 7))}, ... with bias)
    // layer_case("depthwise3x3_stride2_wide", conv((0, 1, 0, 1), 2, 2), {"x": rand((1, 2, 6, 41))}, no bias)
    func testDepthwiseConv2DStaticPadding() throws {
        try checkLayer(
            depthwise(3, 5, stride: 2, padding: .sides(top: 1, bottom: 2, left: 1, right: 2), bias: false),
            "depthwise5x5_stride2_static")
        try checkLayer(depthwise(2, 5, padding: .explicit(2)), "depthwise5x5_pad2")
        try checkLayer(
            depthwise(2, 3, stride: 2, padding: .sides(top: 0, bottom: 1, left: 0, right: 1), bias: false),
            "depthwise3x3_stride2_wide")
    }

    // The EfficientNet stem: layer_case("conv3x3_stem_stride2", conv((0, 1, 0, 1), 2, 1), {"x": rand((2, 3, 8, 9))},
    //                                   {"weight": rand((4, 3, 3, 3), -0.5, 0.5)})
    func testConv2DStemPaddingBySideWithoutBias() throws {
        var rng = RandomGenerator(seed: 0)
        let stem = Conv2D(
            inputChannels: 3, outputChannels: 4, kernelSize: 3, stride: 2,
            padding: .sides(top: 0, bottom: 1, left: 0, right: 1), useBias: false, rng: &rng)
        try checkLayer(stem, "conv3x3_stem_stride2")
    }

    // layer_case("silu", lambda x: F.silu(x), {"x": rand((2, 3, 4, 5), -8, 8)})
    // layer_case("silu_extremes", lambda x: F.silu(x), {"x": [-1e4, -100, -30, -1, 0, 1, 30, 100, 1e4]})
    func testSiLU() throws {
        try checkLayer(SiLU(), "silu")
        try checkLayer(SiLU(), "silu_extremes")
    }

    // layer_case("add3", lambda a, b, c: a + b + c, {"a": rand((2, 3, 4, 5)), "b": ..., "c": ...})
    // layer_case("channel_gate", lambda x, s: x * s, {"x": rand((2, 3, 5, 7)), "s": rand((2, 3, 1, 1), 0, 1)})
    func testAddAndChannelGate() throws {
        try checkLayer(Add(), "add3", inputs: ["a", "b", "c"])
        try checkLayer(ChannelGate(), "channel_gate", inputs: ["x", "s"])
    }

    // layer_case("global_avg_pool_keepdims", lambda x: F.adaptive_avg_pool2d(x, 1), {"x": rand((2, 3, 5, 4))})
    // layer_case("global_max_pool", lambda x: torch.flatten(F.adaptive_max_pool2d(x, 1), 1), {"x": rand((2, 3, 5, 4))})
    // layer_case("global_max_pool_keepdims", lambda x: F.adaptive_max_pool2d(x, 1), {"x": rand((2, 3, 5, 4))})
    func testGlobalPoolingToOnePixel() throws {
        try checkLayer(GlobalAveragePooling2D(keepDims: true), "global_avg_pool_keepdims")
        try checkLayer(GlobalMaxPooling2D(), "global_max_pool")
        try checkLayer(GlobalMaxPooling2D(keepDims: true), "global_max_pool_keepdims")
    }

    // onto = lambda x, ref: F.interpolate(x, size=ref.shape[-2:], mode="nearest") + 0 * ref.sum()
    // layer_case("upsample_onto_odd", onto, {"x": rand((2, 3, 4, 3)), "ref": rand((2, 1, 7, 5))})
    // layer_case("upsample_onto_odd_15", onto, {"x": rand((1, 2, 8, 8)), "ref": rand((1, 1, 15, 15))})
    func testUpSampleOntoAnOddSkip() throws {
        try checkLayer(UpSampleToMatch(), "upsample_onto_odd", inputs: ["x", "ref"])
        try checkLayer(UpSampleToMatch(), "upsample_onto_odd_15", inputs: ["x", "ref"])
    }
}
