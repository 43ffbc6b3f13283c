// train-shapes: the smallest end-to-end use of UNetCore. It draws random discs and boxes on a noisy background,
// trains a small `unet` to segment them with Adam and BCE + Dice, and prints the loss falling and the Dice rising.
//
//     swift run -c release train-shapes [steps] [threads]
import Foundation
import UNetCore

let arguments = CommandLine.arguments
let steps = arguments.count > 1 ? Int(arguments[1]) ?? 150 : 150
Parallel.setThreads(arguments.count > 2 ? Int(arguments[2]) ?? 2 : ProcessInfo.processInfo.activeProcessorCount)

/// One image with a few bright shapes on noise, and the mask of the shapes.
func makeSample(_ size: Int, _ rng: inout RandomGenerator) -> (image: [Float], mask: [Float]) {
    var image = [Float](repeating: 0, count: size * size)
    var mask = [Float](repeating: 0, count: size * size)
    for _ in 0..<(1 + Int(rng.next() % 3)) {
        let cx = rng.uniform(0.2, 0.8) * Float(size), cy = rng.uniform(0.2, 0.8) * Float(size)
        let r = rng.uniform(0.08, 0.2) * Float(size)
        let disc = rng.next() % 2 == 0
        for y in 0..<size {
            for x in 0..<size {
                let (dx, dy) = (Float(x) - cx, Float(y) - cy)
                if disc ? dx * dx + dy * dy < r * r : abs(dx) < r && abs(dy) < r * 0.6 { mask[y * size + x] = 1 }
            }
        }
    }
    for i in 0..<image.count { image[i] = 0.6 * mask[i] + 0.2 + 0.25 * rng.normal() }
    return (image, mask)
}

let (size, batch) = (32, 8)
var rng = RandomGenerator(seed: 1)
let model = try Model.build(
    ModelConfig(
        architecture: .unet, inputShape: [1, size, size], seed: 1, depth: 3, filters: 8,
        batchNorm: true))
let optimizer = Optimizer(kind: .adam, learningRate: 3e-3)
print("train-shapes: unet depth 3, 8 filters, \(model.parameterCount) parameters, \(steps) steps of batch \(batch)")
let start = Date()
for step in 1...steps {
    let x = Tensor(zeros: [batch, 1, size, size]), t = Tensor(zeros: [batch, 1, size, size])
    for n in 0..<batch {
        let s = makeSample(size, &rng)
        for i in 0..<(size * size) { x[n * size * size + i] = s.image[i]; t[n * size * size + i] = s.mask[i] }
    }
    model.network.zeroGradients()
    let out = try model.forward(x, training: true)
    let loss = bceDiceLoss(logits: out.mask!, targets: t)
    model.backward(maskGradient: loss.gradient, classGradient: nil)
    optimizer.step(model.network.namedParameters.map(\.parameter))
    if step == 1 || step % 10 == 0 {
        var inter = 0.0, total = 0.0
        for i in 0..<t.count {
            let p: Float = out.mask![i] > 0 ? 1 : 0
            inter += Double(p * t[i]); total += Double(p + t[i])
        }
        let dice = total > 0 ? 2 * inter / total : 1
        print(
            String(
                format: "step %4d  loss %.4f  batch dice %.3f  %.1f s", step, loss.loss, dice,
                Date().timeIntervalSince(start)))
    }
}
