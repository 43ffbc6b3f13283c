import Foundation
import UNetCore

/// Sliding-window inference for images larger than the model was trained on, the `tile` param of `segment`:
/// `{"size": [h, w], "overlap": 0.25, "mode": "constant" | "gaussian", "batch": 4}`, after MONAI's
/// `sliding_window_inference`.
///
/// Windows of `size` step by `int(size * (1 - overlap))` (at least 1) along each axis, the last one moved back to
/// end at the image's edge, exactly as MONAI places them; a side smaller than the window takes one window of the
/// image's own size (MONAI pads instead). Each window's mask probabilities are weighted by an importance map
/// (constant 1, or MONAI's Gaussian: sigma 0.125 * size, centred, peak 1, floored at 1e-3) and the weighted sum is
/// divided by the summed weights. Windows run `batch` at a time, so the network's memory is bounded by `batch`
/// windows whatever the image's size; only the two accumulators (K + 1 planes) are image-sized.
struct TiledInference {
    enum Mode: String, CaseIterable {
        case constant, gaussian
    }

    var height: Int
    var width: Int
    var overlap: Double
    var mode: Mode
    var batch: Int

    static func read(_ p: ParamsReader) throws -> TiledInference? {
        guard let t = try p.object("tile") else { return nil }
        guard let size = try t.intArray("size", count: 2...2, each: 1...ImageInput.maximumSide) else {
            throw t.invalid("size", "is required")
        }
        let tile = TiledInference(
            height: size[0], width: size[1], overlap: try t.double("overlap", default: 0.25, in: 0...0.95),
            mode: try t.enumeration("mode", Mode.self) ?? .constant,
            batch: try t.int("batch", default: 4, in: 1...64))
        try t.finish()
        return tile
    }

    /// The window origins along one axis of `image` pixels for windows of `roi` (MONAI's scan).
    static func starts(image: Int, roi: Int, overlap: Double) -> [Int] {
        guard image > roi else { return [0] }
        let interval = max(Int(Double(roi) * (1 - overlap)), 1)
        let count = Int((Double(image - roi) / Double(interval)).rounded(.up)) + 1
        return (0..<count).map { min($0 * interval, image - roi) }
    }

    /// The (h, w) importance map of one window, row-major.
    static func importance(height h: Int, width w: Int, mode: Mode) -> [Float] {
        guard mode == .gaussian else { return [Float](repeating: 1, count: h * w) }
        func axis(_ n: Int) -> [Double] {
            let sigma = Double(n) * 0.125, centre = Double(n - 1) / 2
            return (0..<n).map { exp(-(Double($0) - centre) * (Double($0) - centre) / (2 * sigma * sigma)) }
        }
        let (ys, xs) = (axis(h), axis(w))
        var map = ys.flatMap { y in xs.map { x in Float(y * x) } }
        let floor = max(map.min() ?? 1, 1e-3)
        for i in map.indices { map[i] = max(map[i], floor) }
        return map
    }

    /// Blended mask probabilities of one image `x` (1, C, H, W); `forward` gives the probabilities of a batch
    /// of windows. `checkCancelled` runs before each batch of windows.
    func run(
        _ x: Tensor, checkCancelled: () throws -> Void,
        _ forward: (Tensor) throws -> Probabilities
    ) throws -> Probabilities {
        let (c, h, w) = (x.shape[1], x.shape[2], x.shape[3])
        let (th, tw) = (min(height, h), min(width, w))
        let origins = Self.starts(image: h, roi: th, overlap: overlap).flatMap { y in
            Self.starts(image: w, roi: tw, overlap: overlap).map { (y, $0) }
        }
        let weights = Self.importance(height: th, width: tw, mode: mode)
        var sum: Tensor?
        var count = [Float](repeating: 0, count: h * w)
        for first in stride(from: 0, to: origins.count, by: batch) {
            try checkCancelled()
            let group = origins[first..<min(first + batch, origins.count)]
            let windows = Tensor(uninitialized: [group.count, c, th, tw])
            for (n, (y0, x0)) in group.enumerated() {
                for ch in 0..<c {
                    for y in 0..<th {
                        (windows.image(n) + (ch * th + y) * tw)
                            .update(from: x.data + (ch * h + y0 + y) * w + x0, count: tw)
                    }
                }
            }
            guard let probs = try forward(windows).mask else { return Probabilities() }
            let k = probs.shape[1]
            let total = sum ?? Tensor(zeros: [1, k, h, w])
            sum = total
            for (n, (y0, x0)) in group.enumerated() {
                let p = probs.image(n)
                for y in 0..<th {
                    for xx in 0..<tw {
                        let wt = weights[y * tw + xx], at = (y0 + y) * w + x0 + xx
                        for ch in 0..<k { total.data[ch * h * w + at] += wt * p[(ch * th + y) * tw + xx] }
                        count[at] += wt
                    }
                }
            }
        }
        guard let total = sum else { return Probabilities() }
        let plane = h * w
        for ch in 0..<total.shape[1] { for i in 0..<plane { total.data[ch * plane + i] /= count[i] } }
        return Probabilities(mask: total, classes: nil)
    }
}
