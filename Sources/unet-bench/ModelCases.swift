import UNetCore

/// A whole model the benchmark times: its configuration and batch size.
struct ModelCase {
    let name: String
    let config: ModelConfig
    let batch: Int
}

/// The reference classifier (224x224x3 and 128x128x1, batch 8) and Ronneberger's U-Net (256x256x1, batch 4): the
/// cases of the default run and of the PyTorch comparison.
let modelCases = [
    ModelCase(
        name: "unet-classifier-224", config: ModelConfig(architecture: .unetClassifier, inputShape: [3, 224, 224]),
        batch: 8),
    ModelCase(
        name: "unet-classifier-128", config: ModelConfig(architecture: .unetClassifier, inputShape: [1, 128, 128]),
        batch: 8),
    ModelCase(
        name: "unet-ronneberger-256", config: ModelConfig(architecture: .unet, inputShape: [1, 256, 256]), batch: 4),
]

/// Further cases for `--model-run` and `--profile` only (not in the PyTorch comparison): the configurations of the
/// real-data runs in `Examples/xray` (lung segmentation: depth 4, 12 filters, BatchNorm, 256x256, batch 8;
/// pneumonia: 16 filters and a class head at 128x128, batch 16, trained on labels only, so the decoder never runs;
/// its GFLOP/s figure counts the decoder all the same).
let extraModelCases = [
    ModelCase(
        name: "lungseg-12-256",
        config: ModelConfig(architecture: .unet, inputShape: [1, 256, 256], depth: 4, filters: 12, batchNorm: true),
        batch: 8),
    ModelCase(
        name: "pneumonia-16-128",
        config: ModelConfig(
            architecture: .unet, inputShape: [1, 128, 128], depth: 4, filters: 16, batchNorm: true,
            classificationHead: 2),
        batch: 16),
]

/// Eff-UNet b1 with the UNet++ decoder and one mask class, as smp's `UnetPlusPlus("efficientnet-b1")`: at the seed's
/// RGB 224x224 and at a 1-channel 256x256, batch 8 (`--effunet-cases`; compare_pytorch.py `--effunet` times smp).
let effUNetModelCases = [[3, 224, 224], [1, 256, 256]].map { shape in
    ModelCase(
        name: "effunet-b1-upp-\(shape[1])",
        config: ModelConfig(
            architecture: .effUNet, inputShape: shape,
            parameters: ["encoder": .string("efficientnet-b1")]),
        batch: 8)
}

let allModelCases = modelCases + extraModelCases + effUNetModelCases

/// Multiply-adds x 2 of each node's forward for one image (convolutions, transposed convolutions and Dense layers;
/// 0 for the rest).
func nodeFLOPs(_ model: Model, _ shape: [Int]) throws -> [Double] {
    let shapes = try model.network.shapes(for: [1] + shape)
    return model.network.nodes.enumerated().map { i, node in
        let out = shapes[i]
        switch node.layer {
        case let c as Conv2D:
            return 2 * Double(c.inputChannels * c.kernelH * c.kernelW) * Double(out.dropFirst().reduce(1, *))
        case let t as ConvTranspose2D:
            let inShape = node.inputs[0] == Network.input ? [1] + shape : shapes[node.inputs[0]]
            return 2 * Double(t.inputChannels * t.outputChannels * t.kernelSize * t.kernelSize)
                * Double(inShape[2] * inShape[3])
        case let d as Dense: return 2 * Double(d.inputFeatures * d.outputFeatures)
        default: return 0
        }
    }
}

/// Multiply-adds x 2 of the whole forward for one image.
func forwardFLOPs(_ model: Model, _ shape: [Int]) throws -> Double { try nodeFLOPs(model, shape).reduce(0, +) }

/// One model case ready to time: the model, its input and a closure that runs one inference pass or training step.
struct PreparedModelCase {
    let modelCase: ModelCase
    let model: Model
    let step: () throws -> Void

    init(_ named: ModelCase, mode: BenchMode, batch: Int?) throws {
        let c = ModelCase(name: named.name, config: named.config, batch: batch ?? named.batch)
        let model = try Model.build(c.config)
        let x = Tensor(zeros: [c.batch] + c.config.inputShape)
        var rng = RandomGenerator(seed: 1)
        for i in 0..<x.count { x[i] = rng.nextFloat() }
        switch mode {
        case .infer:
            step = { _ = try model.forward(x, training: false) }
        case .train:
            var config = TrainingConfig()
            config.batchSize = c.batch
            let trainer = Trainer(model: model, config: config)
            let batch: Batch
            if model.classHead == nil {
                let masks = Tensor(zeros: [c.batch, 1] + Array(c.config.inputShape.dropFirst()))
                for i in 0..<masks.count { masks[i] = rng.nextFloat() > 0.5 ? 1 : 0 }
                batch = Batch(images: x, masks: masks)
            } else {
                batch = Batch(images: x, labels: (0..<c.batch).map { $0 % 2 })
            }
            step = { _ = try trainer.trainStep(batch) }
        }
        (modelCase, self.model) = (c, model)
    }
}
