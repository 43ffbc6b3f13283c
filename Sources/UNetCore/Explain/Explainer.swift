import Foundation

/// Explanations of a model's image-level decision, written against the model's named heads and its network's
/// node names only, so every architecture whose registry entry declares a `class` head gets every method.
///
/// All of it runs the evaluation-mode function: gradients come from a training forward and backward inside
/// `Network.withEvaluationGradients`, which leaves weights, BatchNorm statistics, random generators and
/// accumulated gradients exactly as they were; `class_map` runs an evaluation forward.
public final class Explainer {
    public let model: Model
    private var network: Network { model.network }
    /// Each node's output shape at the model's configured (padded) input size.
    private let shapes: [[Int]]
    /// Called before each of SmoothGrad's samples and integrated gradients' steps: the protocol passes its
    /// request's cancellation check, so a long explanation stops between passes.
    public var checkCancelled: () throws -> Void = {}

    public init(model: Model) {
        self.model = model
        shapes = (try? model.network.shapes(for: [1] + model.paddedShape(model.config.inputShape))) ?? []
    }

    // MARK: Classes and layers

    /// How many classes a target may name for `method`: the class head's units (two for one sigmoid unit), or
    /// the channels of the logit map `class_map` reads. Throws -32602's error when the model has no such head.
    public func classCount(for method: ExplanationMethod) throws -> Int {
        if method == .classMap { return try logitMapSource().classes }
        guard let head = model.classHead else {
            throw ConfigError(
                field: "method",
                reason: "\(method.rawValue) explains a class score, and this "
                    + "\(model.config.architecture.rawValue) has no class head (create it with "
                    + "classification_head, or use class_map on a mask of one channel per class)")
        }
        return head.channels == 1 ? 2 : head.channels
    }

    /// The nodes Grad-CAM may read, in network order: every node with a (C, H, W) output that the class head
    /// depends on. `model.summary` lists them among its rows.
    public var layers: [String] {
        guard let classOutput = model.classOutput else { return [] }
        return ancestors(of: network.outputs[classOutput]).filter { $0 < shapes.count && shapes[$0].count == 4 }
            .map { network.nodes[$0].name }
    }

    /// Grad-CAM's default layer: the deepest encoder feature, i.e. the last node of the smallest resolution the
    /// class head reads (a unet's `bottleneck.relu2`, or its dropout; the classifier's `block3.relu2`).
    public var defaultLayer: String? {
        let candidates = layers.compactMap { name in network.nodes.firstIndex { $0.name == name } }
        guard let smallest = candidates.map({ shapes[$0][2] * shapes[$0][3] }).min() else { return nil }
        return candidates.last { shapes[$0][2] * shapes[$0][3] == smallest }.map { network.nodes[$0].name }
    }

    /// The nodes `node` depends on, itself included, in network order.
    private func ancestors(of node: Int) -> [Int] {
        var needed = Set([node])
        for i in stride(from: node, through: 0, by: -1) where needed.contains(i) {
            for j in network.nodes[i].inputs where j >= 0 { needed.insert(j) }
        }
        return needed.sorted()
    }

    /// Where `class_map` reads its per-pixel logits: the (N, K, h, w) node a class head pools globally (through
    /// any Flatten), or else a mask head of one channel per class (K > 1, as many as the class head's if any).
    /// When the head is global average pool -> [Dropout] -> Dense (the Eff-UNet's "mask" head, the seed's), the
    /// per-pixel logits are the Dense applied to each pixel of the pooled map: averaging and the Dense commute, so
    /// the map's spatial mean is the head's logits exactly, and a class's map is the evidence the decision sums.
    /// (The pooled map's own channels carry no class: the Dense may mix or swap them.)
    struct LogitMapSource {
        /// The node whose output is the logit map, or nil for the mask head's (cropped) output.
        let node: Int?
        let classes: Int
        let activation: ModelHead.Activation
        /// The head's Dense between the pooled map and the logits, applied per pixel.
        var dense: Dense? = nil
    }

    func logitMapSource() throws -> LogitMapSource {
        if let head = model.classHead {
            var node = network.outputs[head.output]
            while network.nodes[node].layer.kind == "Flatten", let j = network.nodes[node].inputs.first, j >= 0 {
                node = j
            }
            var dense: Dense?
            if let (d, pool) = denseOverPooledMask(at: node, classes: head.channels) { (dense, node) = (d, pool) }
            let width = dense?.inputFeatures ?? head.channels
            if network.nodes[node].layer is GlobalAveragePooling2D, let j = network.nodes[node].inputs.first, j >= 0,
                j < shapes.count, shapes[j].count == 4, shapes[j][1] == width
            {
                return LogitMapSource(
                    node: j, classes: head.channels == 1 ? 2 : head.channels,
                    activation: head.activation, dense: dense)
            }
        }
        if let mask = model.maskHead, mask.channels > 1,
            model.classHead.map({ $0.channels == mask.channels }) ?? true
        {
            return LogitMapSource(node: nil, classes: mask.channels, activation: mask.activation)
        }
        throw ConfigError(
            field: "method",
            reason: "class_map needs a class head that pools a per-pixel logit map "
                + "or a mask of one channel per class; this \(model.config.architecture.rawValue) has neither "
                + "(use gradcam, saliency, smoothgrad or integrated_gradients)")
    }

    // MARK: Explaining

    /// Explains image `n`'s `targets[n]` (nil: the predicted class) for the batch `x` (N, C, H, W).
    /// - Precondition: `targets.count == N`, each target below `classCount(for:)`, a layer from `layers`.
    public func explain(_ x: Tensor, targets: [Int?], options: ExplanationOptions) throws -> Explanation {
        try model.validateInput(x.shape)
        _ = try classCount(for: options.method)
        switch options.method {
        case .gradcam, .gradcamPlusPlus: return try gradCAM(x, targets, options)
        case .saliency:
            let g = try scoreGradients(x, targets)
            return Explanation(
                maps: Self.channelMaximum(g.input, absolute: true), targets: g.targets,
                scores: g.scores, layer: nil)
        case .smoothgrad: return try smoothGrad(x, targets, options)
        case .integratedGradients: return try integratedGradients(x, targets, options)
        case .classMap: return try classMap(x, targets)
        }
    }

    /// The score of each image's target and its gradients: with respect to the input, and to the tapped node's
    /// output when `tap` is set.
    struct ScoreGradients {
        let targets: [Int]
        let scores: [Float]
        let input: Tensor
        let activation: Tensor?
        let activationGradient: Tensor?
    }

    func scoreGradients(_ x: Tensor, _ targets: [Int?], tap: Int? = nil) throws -> ScoreGradients {
        network.tap = tap
        defer { network.tap = nil }
        return try network.withEvaluationGradients {
            let logits = try model.forward(x, training: true, heads: .classes).classLogits!
            let resolved = Self.resolve(targets, logits)
            let seed = Tensor(zeros: logits.shape)
            let k = logits.shape[1]
            var scores: [Float] = []
            for (n, t) in resolved.enumerated() {
                let (unit, sign): (Int, Float) = k == 1 ? (0, t == 1 ? 1 : -1) : (t, 1)
                seed.data[n * k + unit] = sign
                scores.append(sign * logits.data[n * k + unit])
            }
            let dx = model.backward(maskGradient: nil, classGradient: seed)
            let activation = network.tappedOutput
            let gradient = network.tappedGradient ?? activation.map { Tensor(zeros: $0.shape) }
            return ScoreGradients(
                targets: resolved, scores: scores, input: dx.copy(), activation: activation,
                activationGradient: gradient)
        }
    }

    /// The targets asked for, the predicted class where none was: the largest logit, or for one sigmoid unit
    /// class 1 when its probability is at least 0.5, as `predict` decides.
    static func resolve(_ targets: [Int?], _ logits: Tensor) -> [Int] {
        let k = logits.shape[1]
        return targets.enumerated().map { n, t in
            if let t { return t }
            let row = logits.data + n * k
            if k == 1 { return row[0] >= 0 ? 1 : 0 }
            return (0..<k).max { row[$0] < row[$1] }!
        }
    }

    private func gradCAM(_ x: Tensor, _ targets: [Int?], _ options: ExplanationOptions) throws -> Explanation {
        let name = options.layer ?? defaultLayer
        guard let name, let node = network.nodes.firstIndex(where: { $0.name == name }), layers.contains(name) else {
            throw ConfigError(
                field: "layer",
                reason: "must be one of the layers the class head reads: "
                    + layers.joined(separator: ", "))
        }
        let g = try scoreGradients(x, targets, tap: node)
        let (a, da) = (g.activation!, g.activationGradient!)
        let (n, c, h, w) = (a.shape[0], a.shape[1], a.shape[2], a.shape[3])
        let plane = h * w
        let cam = Tensor(zeros: [n, 1, h, w])
        for i in 0..<n {
            for k in 0..<c {
                let (ak, gk) = (a.data + (i * c + k) * plane, da.data + (i * c + k) * plane)
                var weight = 0.0
                if options.method == .gradcam {
                    for p in 0..<plane { weight += Double(gk[p]) }
                    weight /= Double(plane)
                } else {
                    // pytorch-grad-cam's GradCAMPlusPlus, term for term.
                    var sumA = 0.0
                    for p in 0..<plane { sumA += Double(ak[p]) }
                    for p in 0..<plane where gk[p] != 0 {
                        let g1 = Double(gk[p]), g2 = g1 * g1
                        let alpha = g2 / (2 * g2 + sumA * g2 * g1 + 1e-7)
                        weight += max(g1, 0) * alpha
                    }
                }
                let out = cam.data + i * plane
                for p in 0..<plane { out[p] += Float(weight) * ak[p] }
            }
            for p in 0..<plane { cam.data[i * plane + p] = max(cam.data[i * plane + p], 0) }
        }
        // The activation covers the padded input the network ran on: upsampled to it, then cropped to the image.
        let padded = BilinearResize.resize(cam, height: model.padded(x.shape[2]), width: model.padded(x.shape[3]))
        return Explanation(
            maps: crop(padded, height: x.shape[2], width: x.shape[3]).copy(), targets: g.targets,
            scores: g.scores, layer: name)
    }

    private func smoothGrad(_ x: Tensor, _ targets: [Int?], _ options: ExplanationOptions) throws -> Explanation {
        let clean = try evaluationLogits(x)
        let resolved = Self.resolve(targets, clean.logits)
        let per = x.count / x.shape[0]
        let sigmas: [Float] = (0..<x.shape[0]).map { n in
            let image = UnsafeBufferPointer(start: x.image(n), count: per)
            return options.noise * ((image.max() ?? 0) - (image.min() ?? 0))
        }
        var rng = RandomGenerator(seed: options.seed)
        let noisy = Tensor(zeros: x.shape)
        let sum = Tensor(zeros: [x.shape[0], 1, x.shape[2], x.shape[3]])
        for _ in 0..<options.samples {
            try checkCancelled()
            for n in 0..<x.shape[0] {
                for i in 0..<per { noisy.data[n * per + i] = x.data[n * per + i] + sigmas[n] * rng.normal() }
            }
            let g = try scoreGradients(noisy, resolved)
            sum.add(Self.channelMaximum(g.input, absolute: true))
        }
        for i in 0..<sum.count { sum.data[i] /= Float(options.samples) }
        return Explanation(maps: sum, targets: resolved, scores: clean.scores(resolved), layer: nil)
    }

    private func integratedGradients(_ x: Tensor, _ targets: [Int?], _ options: ExplanationOptions) throws
        -> Explanation
    {
        let per = x.count / x.shape[0]
        let baseline = Tensor(zeros: x.shape)
        if let values = options.baseline {
            let (c, plane) = (x.shape[1], x.shape[2] * x.shape[3])
            for n in 0..<x.shape[0] {
                for k in 0..<c {
                    (baseline.image(n) + k * plane).update(repeating: values[min(k, values.count - 1)], count: plane)
                }
            }
        }
        let resolved = Self.resolve(targets, try evaluationLogits(x).logits)
        let m = options.steps
        let path = Tensor(zeros: x.shape)
        let average = Tensor(zeros: x.shape)
        var (scores, baselineScores) = ([Float](), [Float]())
        for k in 0...m {
            try checkCancelled()
            let alpha = Float(k) / Float(m)
            for i in 0..<x.count { path.data[i] = baseline.data[i] + alpha * (x.data[i] - baseline.data[i]) }
            let g = try scoreGradients(path, resolved)
            let weight: Float = (k == 0 || k == m ? 0.5 : 1) / Float(m)
            for i in 0..<x.count { average.data[i] += weight * g.input.data[i] }
            if k == 0 { baselineScores = g.scores }
            if k == m { scores = g.scores }
        }
        let attributions = Tensor(zeros: x.shape)
        for i in 0..<x.count { attributions.data[i] = (x.data[i] - baseline.data[i]) * average.data[i] }
        let sums = (0..<x.shape[0]).map { n in sumInDouble(attributions.image(n), per) }
        var result = Explanation(
            maps: Self.channelSum(attributions, absolute: true), targets: resolved,
            scores: scores, layer: nil)
        result.baselineScores = baselineScores
        result.attributionSums = sums
        return result
    }

    private func classMap(_ x: Tensor, _ targets: [Int?]) throws -> Explanation {
        let source = try logitMapSource()
        let (map, classLogits) = try logitMap(x, source)
        let (n, k, plane) = (map.shape[0], map.shape[1], map.shape[2] * map.shape[3])
        let resolved: [Int] =
            classLogits.map { Self.resolve(targets, $0) }
            ?? targets.enumerated().map { i, t in
                // No class head: the class of the largest mean probability over the image.
                t ?? (0..<k).max { a, b in
                    Self.meanProbability(map, image: i, channel: a, source)
                        < Self.meanProbability(map, image: i, channel: b, source)
                }!
            }
        let probabilities = Tensor(zeros: [n, 1, map.shape[2], map.shape[3]])
        for i in 0..<n {
            for p in 0..<plane {
                probabilities.data[i * plane + p] = Self.probability(
                    map, image: i, pixel: p, target: resolved[i], source)
            }
        }
        let full = BilinearResize.resize(
            probabilities, height: max(map.shape[2], x.shape[2]),
            width: max(map.shape[3], x.shape[3]))
        let maps = crop(full, height: x.shape[2], width: x.shape[3]).copy()
        let scores: [Float] = (0..<n).map { i in
            if let z = classLogits {
                let units = z.shape[1]
                return units == 1 ? (resolved[i] == 1 ? z.data[i] : -z.data[i]) : z.data[i * units + resolved[i]]
            }
            return Float(sumInDouble(maps.image(i), x.shape[2] * x.shape[3])) / Float(x.shape[2] * x.shape[3])
        }
        let name = source.node.map { network.nodes[$0].name } ?? model.maskHead?.name
        return Explanation(maps: maps, targets: resolved, scores: scores, layer: name)
    }

    /// The Dense at `node` and the global average pool it reads (through Dropout and Flatten) when that pool's
    /// input is a mask head's output. Only a pooled mask is a logit map: a pooled feature map (the classifier's
    /// bottleneck) through a Dense would be a class activation map, which class_map does not claim.
    private func denseOverPooledMask(at node: Int, classes: Int) -> (Dense, Int)? {
        guard let dense = network.nodes[node].layer as? Dense, dense.outputFeatures == classes,
            var pool = network.nodes[node].inputs.first, pool >= 0
        else { return nil }
        while ["Flatten", "Dropout"].contains(network.nodes[pool].layer.kind), let j = network.nodes[pool].inputs.first,
            j >= 0
        {
            pool = j
        }
        guard network.nodes[pool].layer is GlobalAveragePooling2D, let map = network.nodes[pool].inputs.first,
            model.heads.contains(where: { $0.kind == .mask && network.outputs[$0.output] == map })
        else { return nil }
        return (dense, pool)
    }

    /// The logit map `source` names for the batch (an evaluation forward), and the class head's logits if the
    /// map is what the head pools.
    func logitMap(_ x: Tensor, _ source: LogitMapSource) throws -> (map: Tensor, classLogits: Tensor?) {
        guard let node = source.node else {
            return (try model.forward(x, training: false, heads: .mask).mask!.copy(), nil)
        }
        network.tap = node
        defer { network.tap = nil }
        let output = try model.forward(x, training: false, heads: .classes)
        let pooled = network.tappedOutput!
        guard let dense = source.dense else { return (pooled, output.classLogits!) }
        return (Self.applyPerPixel(dense, pooled), output.classLogits!)
    }

    /// z (N, K, h, w) with z[n, k, p] = b[k] + Σ_c W[k, c] · m[n, c, p]: a Dense layer on every pixel's channels,
    /// as a pointwise convolution computes it (z[n] (K, P) = W (K, C) · m[n] (C, P), then the bias per channel).
    static func applyPerPixel(_ dense: Dense, _ m: Tensor) -> Tensor {
        let (n, c, plane, k) = (m.shape[0], m.shape[1], m.shape[2] * m.shape[3], dense.outputFeatures)
        let z = Tensor(zeros: [n, k, m.shape[2], m.shape[3]])
        for i in 0..<n { gemm(m: k, n: plane, k: c, dense.weight.value.data, m.image(i), z.image(i)) }
        addChannelBias(z, dense.bias.value)
        return z
    }

    /// The target's probability at one pixel of a logit map: its softmax over the channels, or for one sigmoid
    /// channel σ(z) for class 1 and 1 - σ(z) for class 0.
    static func probability(_ map: Tensor, image i: Int, pixel p: Int, target t: Int, _ s: LogitMapSource) -> Float {
        let (k, plane) = (map.shape[1], map.shape[2] * map.shape[3])
        let base = map.data + i * k * plane + p
        if k == 1 {
            let sig = sigmoid(base[0])
            return t == 1 ? sig : 1 - sig
        }
        var largest = -Float.infinity
        for c in 0..<k { largest = max(largest, base[c * plane]) }
        var total: Float = 0
        for c in 0..<k { total += expf(base[c * plane] - largest) }
        return expf(base[t * plane] - largest) / total
    }

    static func meanProbability(_ map: Tensor, image i: Int, channel c: Int, _ s: LogitMapSource) -> Float {
        let plane = map.shape[2] * map.shape[3]
        var total: Float = 0
        for p in 0..<plane { total += probability(map, image: i, pixel: p, target: c, s) }
        return total / Float(plane)
    }

    /// An evaluation forward's class logits, and the scores of given targets in them.
    private func evaluationLogits(_ x: Tensor) throws -> (logits: Tensor, scores: ([Int]) -> [Float]) {
        let logits = try model.forward(x, training: false, heads: .classes).classLogits!.copy()
        let k = logits.shape[1]
        return (
            logits,
            { targets in
                targets.enumerated().map { n, t in
                    k == 1 ? (t == 1 ? logits.data[n] : -logits.data[n]) : logits.data[n * k + t]
                }
            }
        )
    }

    /// (N, C, H, W) to (N, 1, H, W): the largest (absolute) value over the channels.
    static func channelMaximum(_ t: Tensor, absolute: Bool) -> Tensor {
        let (n, c, plane) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        let out = Tensor(zeros: [n, 1, t.shape[2], t.shape[3]])
        for i in 0..<n {
            for p in 0..<plane {
                var best = -Float.infinity
                for k in 0..<c {
                    let v = t.data[(i * c + k) * plane + p]
                    best = max(best, absolute ? abs(v) : v)
                }
                out.data[i * plane + p] = best
            }
        }
        return out
    }

    /// (N, C, H, W) to (N, 1, H, W): the sum over the channels, or its absolute value.
    static func channelSum(_ t: Tensor, absolute: Bool) -> Tensor {
        let (n, c, plane) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        let out = Tensor(zeros: [n, 1, t.shape[2], t.shape[3]])
        for i in 0..<n {
            for p in 0..<plane {
                var total: Float = 0
                for k in 0..<c { total += t.data[(i * c + k) * plane + p] }
                out.data[i * plane + p] = absolute ? abs(total) : total
            }
        }
        return out
    }
}
