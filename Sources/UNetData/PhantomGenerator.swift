import Foundation
import UNetCore

/// Synthetic chest radiographs with known lung masks and a "consolidation" label, for demos and tests.
///
/// Each phantom is drawn in coordinates relative to the image size (so any size works) from its own generator,
/// seeded by the set's seed and the phantom's index: phantom `i` is the same whatever else is rendered, in any
/// order, on any thread. A phantom has a dark air background, a soft-tissue body, two dark lung fields (the
/// mask: what a lung segmentation labels, heart excluded), a bright heart, spine and ribs, noise, and, for the
/// positive class, one to three opaque patches inside the lungs. Both tasks are learnable from it by a small
/// network: the lungs differ from their surroundings by about 70 grey levels, and patches by about 60.
public struct PhantomGenerator: Equatable, Sendable {
    public var seed: UInt64
    public var height: Int
    public var width: Int
    /// Fraction of phantoms with consolidation (label 1).
    public var positiveFraction: Float

    public init(seed: UInt64, height: Int, width: Int, positiveFraction: Float = 0.5) {
        precondition(height >= 8 && width >= 8, "phantoms need at least 8x8 pixels")
        self.seed = seed
        self.height = height
        self.width = width
        self.positiveFraction = positiveFraction
    }

    /// Names of the two classes, in label order.
    public static let classes = ["normal", "consolidation"]

    /// The generator of phantom `index`: independent streams for independent indices.
    func generator(_ index: Int) -> RandomGenerator {
        RandomGenerator(
            seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03)
    }

    /// The label of phantom `index` (cheap: no pixels are drawn).
    public func label(_ index: Int) -> Int {
        var rng = generator(index)
        return rng.nextFloat() < positiveFraction ? 1 : 0
    }

    /// One lung field: an ellipse whose radius wobbles with the angle, so no two lungs are alike.
    struct Lung {
        var cx, cy, rx, ry: Double
        var wobble: [(amplitude: Double, frequency: Double, phase: Double)]

        /// Normalised radial distance: below 1 inside, 1 on the boundary.
        func distance(_ u: Double, _ v: Double) -> Double {
            let dx = (u - cx) / rx, dy = (v - cy) / ry
            let r = (dx * dx + dy * dy).squareRoot()
            let theta = atan2(dy, dx)
            var edge = 1.0
            for w in wobble { edge += w.amplitude * cos(w.frequency * theta + w.phase) }
            return r / edge
        }
    }

    /// Renders phantom `index`: a grey image on the 0...255 scale, its lung mask (0 or 255) and its label.
    public func render(_ index: Int) -> (image: Image, mask: Image, label: Int) {
        var rng = generator(index)
        let label = rng.nextFloat() < positiveFraction ? 1 : 0
        func jitter(_ value: Double, _ spread: Double) -> Double { value + spread * Double(rng.uniform(-1, 1)) }

        // Anatomy, in fractions of width (u) and height (v).
        let midline = jitter(0.5, 0.02)
        let body = (cx: midline, cy: jitter(0.56, 0.02), rx: jitter(0.47, 0.03), ry: jitter(0.56, 0.03))
        let lungY = jitter(0.47, 0.03), lungRy = jitter(0.27, 0.03), spread = jitter(0.19, 0.015)
        var lungs: [Lung] = []
        for side in [-1.0, 1.0] {
            let wobble = (0..<3).map { k in
                (
                    amplitude: jitter(0.05, 0.03) / Double(k + 1), frequency: Double(k + 1),
                    phase: Double(rng.uniform(0, 2 * Float.pi))
                )
            }
            lungs.append(
                Lung(
                    cx: midline + side * jitter(spread, 0.01), cy: jitter(lungY, 0.015),
                    rx: jitter(0.125, 0.015), ry: jitter(lungRy, 0.015), wobble: wobble))
        }
        let heart = (
            cx: midline + jitter(0.06, 0.02), cy: lungY + lungRy * jitter(0.62, 0.06),
            rx: jitter(0.12, 0.015), ry: jitter(0.095, 0.015)
        )
        let ribSpacing = jitter(0.062, 0.006), ribTop = lungY - lungRy * 0.95, ribWidth = jitter(0.011, 0.002)
        let exposure = jitter(1, 0.08), offset = jitter(0, 10), noise = Float(jitter(5, 2))

        // Consolidation patches: centres inside a lung, drawn by rejection.
        var patches: [(cx: Double, cy: Double, r: Double, strength: Double)] = []
        if label == 1 {
            let count = 1 + Int(rng.next() % 3)
            while patches.count < count {
                let lung = lungs[Int(rng.next() % 2)]
                let u = jitter(lung.cx, lung.rx * 0.8), v = jitter(lung.cy, lung.ry * 0.8)
                if lung.distance(u, v) < 0.75 {
                    patches.append((u, v, jitter(0.075, 0.025), jitter(70, 15)))
                }
            }
        }

        var pixels = [Float](repeating: 0, count: height * width)
        var mask = [Float](repeating: 0, count: height * width)
        let edge = 1.5 / Double(min(height, width))  // soft edges about one pixel wide
        func smoothStep(_ d: Double, _ scale: Double) -> Double { 1 / (1 + exp(d / max(scale, 1e-6))) }
        for y in 0..<height {
            let v = (Double(y) + 0.5) / Double(height)
            for x in 0..<width {
                let u = (Double(x) + 0.5) / Double(width)
                // Body: soft tissue over air, brighter towards the abdomen.
                let bodyD =
                    (((u - body.cx) / body.rx) * ((u - body.cx) / body.rx)
                    + ((v - body.cy) / body.ry) * ((v - body.cy) / body.ry)).squareRoot()
                let inBody = smoothStep(bodyD - 1, edge / body.rx)
                var value = 12 + inBody * (120 + 50 * v)
                // Spine and mediastinum down the middle.
                value += inBody * 35 * exp(-pow((u - midline) / 0.045, 2))
                // Lungs: dark air, a little darker at the top.
                var lungness = 0.0, inLung = false
                for lung in lungs {
                    let d = lung.distance(u, v)
                    lungness = max(lungness, smoothStep(d - 1, edge / lung.rx))
                    inLung = inLung || d <= 1
                }
                let heartD =
                    (((u - heart.cx) / heart.rx) * ((u - heart.cx) / heart.rx)
                    + ((v - heart.cy) / heart.ry) * ((v - heart.cy) / heart.ry)).squareRoot()
                let heartness = smoothStep(heartD - 1, edge / heart.rx)
                lungness *= 1 - heartness
                value -= lungness * (80 + 20 * (1 - v))
                value += heartness * 25
                // Ribs: bright arcs across each side, sagging towards the flanks.
                let lateral = abs(u - midline)
                // Ribs fade out below the diaphragm.
                let ribFade = smoothStep(v - (lungY + lungRy * 1.05), 0.02)
                if lateral > 0.04 {
                    for k in 0..<10 {
                        let centre = ribTop + Double(k) * ribSpacing - 0.12 * lateral + 1.3 * lateral * lateral
                        let t = (v - centre) / ribWidth
                        if abs(t) < 4 { value += inBody * ribFade * 24 * exp(-t * t) }
                    }
                }
                // Consolidation: opaque patches, fading out at their rims, only where there is lung.
                for p in patches {
                    let d2 = ((u - p.cx) * (u - p.cx) + (v - p.cy) * (v - p.cy)) / (p.r * p.r)
                    value += lungness * p.strength * exp(-1.5 * d2 * d2)
                }
                let i = y * width + x
                pixels[i] = Float(value * exposure + offset)
                mask[i] = inLung && heartD > 1 ? 255 : 0
            }
        }
        for i in 0..<pixels.count { pixels[i] = min(max(pixels[i] + noise * rng.normal(), 0), 255) }
        return (
            Image(channels: 1, height: height, width: width, pixels: pixels),
            Image(channels: 1, height: height, width: width, pixels: mask), label
        )
    }
}
