/// The ways `Explainer` answers "where is the model looking?" for one class of an image.
///
/// The gradient methods differentiate the target's *score*: its class logit (for one sigmoid unit, the logit for
/// class 1 and its negative for class 0, the logit of 1 - p), as Grad-CAM's paper takes the score before the
/// softmax. `classMap` differentiates nothing: it reads a per-pixel logit map the model already has.
public enum ExplanationMethod: String, CaseIterable, Sendable {
    /// Selvaraju et al. 2017: ReLU(Σ_k w_k A_k) for the activation A of a layer, w_k the spatial mean of dS/dA_k.
    case gradcam
    /// Chattopadhay et al. 2018: Grad-CAM with each gradient weighted by α = g² / (2g² + Σ A · g³).
    case gradcamPlusPlus = "gradcam++"
    /// Simonyan et al. 2014: |dS/dx|, the largest over the input channels.
    case saliency
    /// Smilkov et al. 2017: the mean saliency over noisy copies of the image.
    case smoothgrad
    /// Sundararajan et al. 2017: (x - x0) · ∫ dS/dx along the straight path from a baseline x0, trapezoid rule.
    case integratedGradients = "integrated_gradients"
    /// The per-pixel probability of the target class from a logit map the class head pools (or a mask of one
    /// channel per class): the Eff-UNet reference's picture.
    case classMap = "class_map"

    /// Whether the method reads a layer's activation (and so takes `layer`).
    public var readsLayer: Bool { self == .gradcam || self == .gradcamPlusPlus }
    /// Whether the method differentiates a class score (and so needs a class head).
    public var differentiates: Bool { self != .classMap }
}

/// How an `Explainer` runs a method: its layer and its sampling.
public struct ExplanationOptions: Sendable {
    public var method: ExplanationMethod
    /// Grad-CAM's layer by node name; nil is `Explainer.defaultLayer`, the deepest encoder feature.
    public var layer: String?
    /// SmoothGrad: noisy copies, the noise's standard deviation as a fraction of the image's value range, seed.
    public var samples: Int
    public var noise: Float
    public var seed: UInt64
    /// Integrated gradients: intervals of the path (steps + 1 gradients), and the baseline's value per input
    /// channel (nil: zeros), e.g. what a black pixel becomes through the input normalisation.
    public var steps: Int
    public var baseline: [Float]?

    public static let defaultSamples = 25
    public static let defaultNoise: Float = 0.15
    public static let defaultSteps = 64

    public init(
        method: ExplanationMethod = .gradcam, layer: String? = nil, samples: Int = defaultSamples,
        noise: Float = defaultNoise, seed: UInt64 = 0, steps: Int = defaultSteps, baseline: [Float]? = nil
    ) {
        self.method = method; self.layer = layer; self.samples = samples; self.noise = noise; self.seed = seed
        self.steps = steps; self.baseline = baseline
    }
}

/// What `Explainer.explain` returns for a batch.
public struct Explanation {
    /// (N, 1, H, W) at the batch's size, raw: not normalised, not thresholded.
    public let maps: Tensor
    /// Each image's class: the one asked for, or the predicted one.
    public let targets: [Int]
    /// Each image's target score: the class logit the map explains (for `class_map`, the class head's logit, or
    /// the map's mean probability when the map is a mask's).
    public let scores: [Float]
    /// The node whose activation (Grad-CAM) or logit map (`class_map`) the map comes from.
    public let layer: String?
    /// Integrated gradients: the score at the baseline, and the sum of each image's attributions, which the
    /// completeness axiom says equals score - baseline score.
    public var baselineScores: [Float]?
    public var attributionSums: [Double]?
}
