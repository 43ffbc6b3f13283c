/// Everything needed to rebuild a model: what `model.create` takes and checkpoints store in their metadata.
public struct ModelConfig: Codable, Equatable, Sendable {
    public enum Architecture: String, Codable, Sendable, CaseIterable {
        case unetClassifier = "unet-classifier"
        case unet
    }

    public enum Upsampling: String, Codable, Sendable, CaseIterable {
        case transpose, bilinear, nearest
    }

    public var architecture: Architecture
    /// [C, H, W]. For `unet` the height and width are nominal: any size is accepted at run time.
    public var inputShape: [Int]
    /// unet-classifier: units of the final Dense (the reference has 2, sigmoid).
    /// unet: mask channels: 1 means a sigmoid mask, K > 1 a softmax over K classes.
    public var classes: Int
    public var seed: UInt64
    // unet only:
    public var depth: Int
    public var filters: Int
    public var batchNorm: Bool
    public var upsampling: Upsampling
    /// Classes of the optional image-level head on the bottleneck (0: none; 1: sigmoid; K > 1: softmax).
    public var classificationHead: Int
    /// Dropout before the bottleneck's pooling output, as in Ronneberger et al. (0: none).
    public var dropout: Float

    public init(architecture: Architecture, inputShape: [Int], classes: Int? = nil, seed: UInt64 = 0,
                depth: Int = 4, filters: Int = 64, batchNorm: Bool = false, upsampling: Upsampling = .transpose,
                classificationHead: Int = 0, dropout: Float = 0) {
        self.architecture = architecture
        self.inputShape = inputShape
        self.classes = classes ?? (architecture == .unetClassifier ? 2 : 1)
        self.seed = seed
        self.depth = depth; self.filters = filters; self.batchNorm = batchNorm; self.upsampling = upsampling
        self.classificationHead = classificationHead; self.dropout = dropout
    }

    enum CodingKeys: String, CodingKey {
        case architecture, inputShape = "input_shape", classes, seed, depth, filters, batchNorm = "batch_norm"
        case upsampling, classificationHead = "classification_head", dropout
    }

    /// Checks ranges before anything is allocated; the message names the field.
    public func validate() throws {
        func bad(_ field: String, _ why: String) -> ConfigError { ConfigError(field: field, reason: why) }
        guard inputShape.count == 3 else { throw bad("input_shape", "must be [C, H, W]") }
        guard (1...64).contains(inputShape[0]) else { throw bad("input_shape", "channels must be in 1...64") }
        guard inputShape[1] >= 1, inputShape[2] >= 1, inputShape[1] <= 8192, inputShape[2] <= 8192 else {
            throw bad("input_shape", "height and width must be in 1...8192")
        }
        guard (1...1000).contains(classes) else { throw bad("classes", "must be in 1...1000") }
        switch architecture {
        case .unetClassifier:
            guard inputShape[1] % 4 == 0, inputShape[2] % 4 == 0 else {
                throw bad("input_shape", "unet-classifier needs height and width divisible by 4")
            }
        case .unet:
            guard (1...6).contains(depth) else { throw bad("depth", "must be in 1...6") }
            guard (1...256).contains(filters) else { throw bad("filters", "must be in 1...256") }
            guard (0...1000).contains(classificationHead) else { throw bad("classification_head", "must be in 0...1000") }
            guard dropout >= 0, dropout < 1 else { throw bad("dropout", "must be in [0, 1)") }
        }
    }
}

/// A model configuration that cannot be built; `field` names the offending setting.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let field: String
    public let reason: String
    public var description: String { "\(field): \(reason)" }
    public init(field: String, reason: String) { self.field = field; self.reason = reason }
}
