import Dispatch

/// Best-of-`repeats` seconds of each stage of one Winograd forward over random data: the input transform, the 36
/// products and the output transform (`unet-bench --winograd-parts N,C,O,H,W`). Whole-layer timings on a shared
/// machine move too much to tune by; a stage's best of many repeats is steady enough to tune one transform against
/// another.
public func winogradStageSeconds(n: Int, c: Int, o: Int, h: Int, w: Int, repeats: Int = 10)
    -> (input: Double, products: Double, output: Double)
{
    let plan = WinogradPlan(n: n, c: c, o: o, h: h, w: w)
    var rng = RandomGenerator(seed: 9)
    let x = Tensor(zeros: [n, c, h, w]), weight = Tensor(zeros: [o, c, 3, 3]), y = Tensor(zeros: [n, o, h, w])
    for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
    for i in 0..<weight.count { weight[i] = rng.uniform(-1, 1) }
    let u = Workspace.shared.buffer(.winogradWeights, count: 36 * o * c)
    winogradTransformKernels(weight.data, o: o, c: c, flipped: false, u)
    let v = Workspace.shared.buffer(.winogradInput, count: plan.bufferCount)
    let m = Workspace.shared.buffer(.winogradProduct, count: plan.bufferCount)
    var best = (input: Double.infinity, products: Double.infinity, output: Double.infinity)
    func seconds(_ body: () -> Void) -> Double {
        let t = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
    }
    for _ in 0..<repeats {
        var parts = (0.0, 0.0, 0.0)
        var start = 0
        while start < plan.tiles {
            let count = min(plan.chunk, plan.tiles - start)
            parts.0 += seconds { plan.transformInput(x.data, channels: c, start: start, count: count, v) }
            parts.1 += seconds { winogradProducts(o: o, c: c, count: count, u, v, m) }
            parts.2 += seconds {
                plan.transformOutput(m, outChannels: o, start: start, count: count, bias: nil, y.data)
            }
            start += count
        }
        best = (min(best.input, parts.0), min(best.products, parts.1), min(best.output, parts.2))
    }
    return best
}
