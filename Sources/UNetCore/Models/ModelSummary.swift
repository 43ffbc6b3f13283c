extension Layer {
    /// Non-trainable values that Keras counts as parameters: BatchNorm's running mean and variance.
    var statisticsCount: Int { buffers.filter { $0.value.rank > 0 }.reduce(0) { $0 + $1.value.count } }
}

/// A Keras-style summary: each layer's name, type, output shape (per image, batch axis omitted) and parameter
/// count, with the totals.
public struct ModelSummary: Equatable, Sendable {
    public struct Row: Equatable, Sendable {
        public let name: String
        public let type: String
        public let outputShape: [Int]
        public let params: Int
    }

    public let architecture: String
    public let inputShape: [Int]
    public let rows: [Row]
    public let totalParams: Int
    public let trainableParams: Int

    /// The summary of `model` at its configured input shape (after padding, for a `unet`).
    public init(_ model: Model) {
        let shape = model.paddedShape(model.config.inputShape)
        let shapes = (try? model.network.shapes(for: [1] + shape)) ?? []
        rows = model.network.nodes.enumerated().map { i, node in
            Row(
                name: node.name, type: node.layer.kind,
                outputShape: i < shapes.count ? Array(shapes[i].dropFirst()) : [],
                params: node.layer.parameterCount + node.layer.statisticsCount)
        }
        architecture = model.config.architecture.rawValue
        inputShape = model.config.inputShape
        totalParams = rows.reduce(0) { $0 + $1.params }
        trainableParams = model.parameterCount
    }

    /// The summary as a fixed-width text table, as Keras prints it.
    public var table: String {
        func grouped(_ n: Int) -> String {
            let s = String(n)
            var out = ""
            for (i, ch) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(",") }; out.append(ch) }
            return String(out.reversed())
        }
        func padded(_ s: String, _ w: Int) -> String {
            s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count)
        }
        let line = String(repeating: "─", count: 86)
        var text = "Model: \(architecture), input \(inputShape)\n\(line)\n"
        text += padded("Layer (type)", 44) + padded("Output Shape", 28) + "Param #\n" + line + "\n"
        for r in rows {
            let shape = "(None, " + r.outputShape.map(String.init).joined(separator: ", ") + ")"
            text += padded("\(r.name) (\(r.type))", 44) + padded(shape, 28) + grouped(r.params) + "\n"
        }
        text += line + "\nTotal params: \(grouped(totalParams))\nTrainable params: \(grouped(trainableParams))\n"
        text += "Non-trainable params: \(grouped(totalParams - trainableParams))\n"
        return text
    }
}
