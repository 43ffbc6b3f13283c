/// The reference Keras U-Net classifier, layer for layer:
/// Conv 3x3 64 ReLU x2, MaxPool; Conv 128 x2, MaxPool; Conv 256 x2; UpSampling 2 (nearest), concat with the
/// 128 block, Conv 128 x2; UpSampling 2, concat with the 64 block, Conv 64 x2; Flatten; Dense(classes, sigmoid).
/// Glorot-uniform weights and zero biases, as Keras initialises them. At 224x224x3: 8,305,602 parameters.
///
/// One head, `class`: the Dense layer's `classes` sigmoid units (the reference's Dense(2, sigmoid)).
public enum UNetClassifierBuilder {
    public static let spec = ArchitectureSpec(
        name: .unetClassifier,
        summary: "the reference Keras U-Net image classifier: a fixed input size (height and width divisible by 4), "
            + "Flatten and Dense(classes, sigmoid)",
        parameters: [
            ParameterSpec("classes", .integer(1...1000), default: .integer(2), "units of the final sigmoid Dense layer")
        ],
        validate: { config in
            guard config.inputShape[1] % 4 == 0, config.inputShape[2] % 4 == 0 else {
                throw ConfigError(field: "input_shape", reason: "unet-classifier needs height and width divisible by 4")
            }
        },
        estimate: ModelSizeEstimate.unetClassifier,
        build: build)

    static func build(_ config: ModelConfig) -> Model {
        let classes = config.integer("classes")
        var rng = RandomGenerator(seed: config.seed)
        let net = Network()
        let (c, h, w) = (config.inputShape[0], config.inputShape[1], config.inputShape[2])

        func block(_ name: String, _ input: Int, _ inC: Int, _ outC: Int) -> Int {
            let c1 = net.add(
                "\(name).conv1", Conv2D(inputChannels: inC, outputChannels: outC, kernelSize: 3, rng: &rng), input)
            let r1 = net.add("\(name).relu1", ReLU(), c1)
            let c2 = net.add(
                "\(name).conv2", Conv2D(inputChannels: outC, outputChannels: outC, kernelSize: 3, rng: &rng), r1)
            return net.add("\(name).relu2", ReLU(), c2)
        }

        let b1 = block("block1", Network.input, c, 64)
        let p1 = net.add("pool1", MaxPool2D(), b1)
        let b2 = block("block2", p1, 64, 128)
        let p2 = net.add("pool2", MaxPool2D(), b2)
        let b3 = block("block3", p2, 128, 256)
        let u1 = net.add("up1", UpSampling2D(factor: 2, mode: .nearest), b3)
        let m1 = net.add("concat1", Concatenate(), u1, b2)
        let b4 = block("block4", m1, 256 + 128, 128)
        let u2 = net.add("up2", UpSampling2D(factor: 2, mode: .nearest), b4)
        let m2 = net.add("concat2", Concatenate(), u2, b1)
        let b5 = block("block5", m2, 128 + 64, 64)
        let f = net.add("flatten", Flatten(), b5)
        let d = net.add(
            "dense",
            Dense(
                inputFeatures: 64 * h * w, outputFeatures: classes, activation: .sigmoid,
                rng: &rng), f)
        net.outputs = [d]
        return Model(
            config: config, network: net,
            heads: [ModelHead(name: "class", kind: .classes, channels: classes, activation: .sigmoid, output: 0)],
            padMultiple: 1, fixedSize: true)
    }
}

extension ModelConfig.Architecture {
    public static let unetClassifier = ModelConfig.Architecture(rawValue: "unet-classifier")
}
