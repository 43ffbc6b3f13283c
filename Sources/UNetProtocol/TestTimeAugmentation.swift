import Foundation
import UNetCore

/// Activated model outputs of a batch: what `predict` and `segment` report, and what test-time augmentation
/// averages (probabilities, not logits, as MONAI's and most TTA implementations do).
struct Probabilities {
    /// (N, K, H, W) at the batch's input size.
    var mask: Tensor?
    /// (N, K).
    var classes: Tensor?
}

/// Test-time augmentation, the `tta` param of `predict` and `segment`: `["hflip", "vflip", "scale:0.9,1.1"]`.
///
/// The model runs on the batch as it is and once per listed view (a horizontal flip, a vertical flip, one
/// rescale per factor); each view's mask probabilities are brought back to the original geometry (flipped
/// back, resized back) and all views are averaged, class probabilities likewise. Views are not combined
/// (hflip and scale:0.9 are two views, not three). Empty or absent: the plain forward, bit for bit.
struct TestTimeAugmentation {
    enum View: Equatable {
        case hflip, vflip
        case scale(Float)
    }

    var views: [View] = []

    static let allowedScales: ClosedRange<Float> = 0.25...4

    static func read(_ p: ParamsReader, model: Model) throws -> TestTimeAugmentation {
        guard let items = try p.array("tta", count: 0...16) else { return TestTimeAugmentation() }
        var views: [View] = []
        for (i, item) in items.enumerated() {
            let field = "tta[\(i)]"
            guard let text = item.stringValue else {
                throw p.invalid(field, "must be \"hflip\", \"vflip\" or \"scale:F,...\", got \(item.typeName)")
            }
            switch text {
            case "hflip": views.append(.hflip)
            case "vflip": views.append(.vflip)
            default:
                guard text.hasPrefix("scale:") else {
                    throw p.invalid(field, "must be \"hflip\", \"vflip\" or \"scale:F,...\", got \"\(text)\"")
                }
                let factors = text.dropFirst("scale:".count).split(separator: ",", omittingEmptySubsequences: false)
                    .map { Float($0.trimmingCharacters(in: .whitespaces)) }
                guard !factors.isEmpty, factors.allSatisfy({ $0.map(allowedScales.contains) ?? false }) else {
                    throw p.invalid(field, "scale factors must be numbers in 0.25...4, got \"\(text)\"")
                }
                // A fixed-size model (the classifier) cannot take a rescaled input.
                guard !model.fixedSize else {
                    throw p.invalid(field, "scale needs a model that takes any input size (a unet)")
                }
                views += factors.map { .scale($0!) }
            }
        }
        return TestTimeAugmentation(views: views)
    }

    /// The probabilities of batch `x` (N, C, H, W), averaged over the plain forward and every view.
    func run(_ x: Tensor, _ forward: (Tensor) throws -> Probabilities) throws -> Probabilities {
        var total = try forward(x)
        guard !views.isEmpty else { return total }
        let (h, w) = (x.shape[2], x.shape[3])
        for view in views {
            var p: Probabilities
            switch view {
            case .hflip:
                p = try forward(Self.flipped(x, horizontally: true))
                p.mask = p.mask.map { Self.flipped($0, horizontally: true) }
            case .vflip:
                p = try forward(Self.flipped(x, horizontally: false))
                p.mask = p.mask.map { Self.flipped($0, horizontally: false) }
            case .scale(let s):
                let size = (max(1, Int((Float(h) * s).rounded())), max(1, Int((Float(w) * s).rounded())))
                p = try forward(MaskEncoding.resize(x, height: size.0, width: size.1))
                p.mask = p.mask.map { MaskEncoding.resize($0, height: h, width: w) }
            }
            Self.accumulate(&total.mask, p.mask)
            Self.accumulate(&total.classes, p.classes)
        }
        let n = Float(views.count + 1)
        for t in [total.mask, total.classes].compactMap({ $0 }) { for i in 0..<t.count { t.data[i] /= n } }
        return total
    }

    private static func accumulate(_ sum: inout Tensor?, _ add: Tensor?) {
        guard let s = sum, let a = add else { return }
        for i in 0..<s.count { s.data[i] += a.data[i] }
    }

    /// `t` (N, C, H, W) mirrored left-right or top-bottom (each is its own inverse).
    static func flipped(_ t: Tensor, horizontally: Bool) -> Tensor {
        let (h, w) = (t.shape[2], t.shape[3])
        let out = Tensor(uninitialized: t.shape)
        for plane in 0..<(t.shape[0] * t.shape[1]) {
            let src = t.data + plane * h * w, dst = out.data + plane * h * w
            for y in 0..<h {
                for x in 0..<w {
                    dst[y * w + x] = horizontally ? src[y * w + (w - 1 - x)] : src[(h - 1 - y) * w + x]
                }
            }
        }
        return out
    }
}
