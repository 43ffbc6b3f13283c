/// A Ronneberger-style segmentation U-Net: `depth` encoder levels of two 3x3 convolutions (optionally with
/// BatchNorm) and a 2x2 max-pool, filters doubling per level from `filters`; a bottleneck; decoder levels that
/// upsample (2x2 up-convolution, or bilinear/nearest upsampling), concatenate the encoder's output of the same
/// resolution and apply two 3x3 convolutions; then a 1x1 convolution to the mask logits. An optional head pools
/// the bottleneck globally and classifies the whole image with a Dense layer.
///
/// Node names (and so checkpoint names): `enc{1...depth}.conv1/bn1/conv2/bn2`, `bottleneck.*`,
/// `dec{depth...1}.up` and `.conv1/bn1/conv2/bn2`, `head`, `classifier`. He-normal weights, zero biases;
/// convolutions followed by BatchNorm have no bias (it would be cancelled by the normalisation).
/// Depth 4, 64 filters, up-convolutions, no BatchNorm, 1 channel in and out: 31,030,593 parameters.
enum UNetBuilder {
    static func build(_ config: ModelConfig) -> Model {
        var rng = RandomGenerator(seed: config.seed)
        let net = Network()
        let f = config.filters
        let bn = config.batchNorm

        func doubleConv(_ name: String, _ input: Int, _ inC: Int, _ outC: Int) -> Int {
            var x = input
            for (i, cin) in [inC, outC].enumerated() {
                x = net.add("\(name).conv\(i + 1)", Conv2D(inputChannels: cin, outputChannels: outC, kernelSize: 3,
                                                          useBias: !bn, initializer: .heNormal, rng: &rng), x)
                if bn { x = net.add("\(name).bn\(i + 1)", BatchNorm(channels: outC), x) }
                x = net.add("\(name).relu\(i + 1)", ReLU(), x)
            }
            return x
        }

        var skips: [Int] = []
        var x = Network.input
        var channels = config.inputShape[0]
        for level in 0..<config.depth {
            let out = f << level
            x = doubleConv("enc\(level + 1)", x, channels, out)
            skips.append(x)
            x = net.add("pool\(level + 1)", MaxPool2D(), x)
            channels = out
        }
        x = doubleConv("bottleneck", x, channels, f << config.depth)
        channels = f << config.depth
        if config.dropout > 0 {
            x = net.add("bottleneck.dropout", Dropout(rate: config.dropout, seed: config.seed ^ 0xD0), x)
        }
        let bottleneck = x

        for level in stride(from: config.depth - 1, through: 0, by: -1) {
            let out = f << level
            let name = "dec\(level + 1)"
            let upChannels: Int
            switch config.upsampling {
            case .transpose:
                x = net.add("\(name).up", ConvTranspose2D(inputChannels: channels, outputChannels: out,
                                                          initializer: .heNormal, rng: &rng), x)
                upChannels = out
            case .bilinear, .nearest:
                x = net.add("\(name).up", UpSampling2D(factor: 2, mode: config.upsampling == .bilinear ? .bilinear : .nearest), x)
                upChannels = channels
            }
            x = net.add("\(name).concat", Concatenate(), x, skips[level])
            x = doubleConv(name, x, upChannels + out, out)
            channels = out
        }
        let head = net.add("head", Conv2D(inputChannels: channels, outputChannels: config.classes, kernelSize: 1,
                                          initializer: .glorotUniform, rng: &rng), x)
        net.outputs = [head]
        var classOutput: Int?
        if config.classificationHead > 0 {
            let k = config.classificationHead
            let pooled = net.add("classifier.pool", GlobalAveragePooling2D(), bottleneck)
            let dense = net.add("classifier", Dense(inputFeatures: f << config.depth, outputFeatures: k,
                                                    activation: k == 1 ? "sigmoid" : "softmax", rng: &rng), pooled)
            net.outputs.append(dense)
            classOutput = 1
        }
        return Model(config: config, network: net, maskOutput: 0, classOutput: classOutput,
                     padMultiple: 1 << config.depth, fixedSize: false)
    }
}
