import UNetCore

/// The oracle of the fast 3x3 "same" convolution kernels: the exact output of x (N, C, H, W) with `weight`
/// (O, C, 3, 3) and `bias` (`conv2dNaive`, summed in Double), and each output's Σ |x||w| over its terms, the scale
/// its rounding error is bounded by.
public func sameConvolutionOracle(_ x: Tensor, weight: Tensor, bias: Tensor?) -> (expected: Tensor, scale: Tensor) {
    let (n, c, h, w, o) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], weight.shape[0])
    let expected = Tensor(zeros: [n, o, h, w]), scale = Tensor(zeros: [n, o, h, w])
    let g = ConvGeometry(channels: c, height: h, width: w, kernelH: 3, kernelW: 3, padding: .same)
    let (ax, aw) = (
        Tensor(shape: x.shape, values: x.array.map(abs)), Tensor(shape: weight.shape, values: weight.array.map(abs))
    )
    for i in 0..<n {
        conv2dNaive(x.image(i), g, weight: weight.data, bias: bias?.data, outChannels: o, expected.image(i))
        conv2dNaive(ax.image(i), g, weight: aw.data, bias: nil, outChannels: o, scale.image(i))
    }
    return (expected, scale)
}
