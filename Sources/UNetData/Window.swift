/// How samples in a file's own units (16-bit PNG values, DICOM modality values such as Hounsfield units) become
/// the 0...255 scale every later step (resize, normalisation, augmentation) works on.
///
/// Deep images are decoded to floats in their own units first and windowed once, so no precision is lost to an
/// intermediate 8-bit image: a 12-bit radiograph keeps its 4096 levels as fractional values on 0...255.
///
/// JSON shape (the `window` param): `[center, width]`, `"p1-p99"` (any two percentiles) or `"minmax"`.
public enum Window: Equatable, Sendable {
    /// DICOM's linear VOI function (PS3.3 C.11.2.1.2.1) onto 0...255, centre and width in the samples' units.
    case centerWidth(center: Double, width: Double)
    /// The image's own `low` and `high` percentiles (numpy's linear definition) map to 0 and 255.
    case percentiles(low: Double, high: Double)
    /// The image's smallest value maps to 0, its largest to 255.
    case minMax
    /// `[0, maximum]` maps linearly to `[0, 255]`: what a file's bit depth means when nothing else is asked.
    case fullScale(maximum: Double)

    /// Reads the string forms, `"minmax"` and `"pLOW-pHIGH"` (0 <= LOW < HIGH <= 100); nil for anything else.
    public init?(text: String) {
        if text == "minmax" {
            self = .minMax
            return
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.hasPrefix("p") }),
            let low = Double(parts[0].dropFirst()), let high = Double(parts[1].dropFirst()),
            low >= 0, low < high, high <= 100
        else { return nil }
        self = .percentiles(low: low, high: high)
    }

    /// The default for integer samples with no window of their own: the full scale of `bits` significant bits
    /// when the file declares them (PNG's sBIT, DICOM's BitsStored), else of the fewest of 8, 10, 12, 14 or 16
    /// bits that hold `largest`. So 12-bit data stored in a 16-bit PNG without sBIT reads as 12-bit, not as a
    /// nearly black 16-bit image; a genuine 16-bit image uses more than 14 bits and is unchanged.
    public static func fullScale(bits: Int?, largest: Float) -> Window {
        if let bits, bits >= 1, bits <= 16 { return .fullScale(maximum: Double((1 << bits) - 1)) }
        let needed = [8, 10, 12, 14].first { Float((1 << $0) - 1) >= largest } ?? 16
        return .fullScale(maximum: Double((1 << needed) - 1))
    }

    /// Maps every value of `image` onto 0...255 (clamped), in place.
    public func apply(to image: inout Image) {
        switch self {
        case .fullScale(let maximum):
            if maximum == 255 { return }  // 8-bit data: the identity, bit for bit
            // Dividing by 257 (= 65535 / 255) keeps a 16-bit value v exactly v / 257, as before windowing existed.
            let divisor = Float(maximum / 255)
            for i in image.pixels.indices { image.pixels[i] = min(max(image.pixels[i] / divisor, 0), 255) }
        case .centerWidth(let center, let width):
            Window.linearVOI(&image.pixels, center: center, width: width)
        case .minMax:
            let low = image.pixels.min() ?? 0, high = image.pixels.max() ?? 0
            Window.stretch(&image.pixels, low: Double(low), high: Double(high))
        case .percentiles(let lowP, let highP):
            let sorted = image.pixels.sorted()
            Window.stretch(
                &image.pixels, low: Window.percentile(sorted, lowP),
                high: Window.percentile(sorted, highP))
        }
    }

    /// DICOM's linear function with y in 0...255: x <= c - 0.5 - (w - 1) / 2 gives 0, x > c - 0.5 + (w - 1) / 2
    /// gives 255, otherwise ((x - (c - 0.5)) / (w - 1) + 0.5) * 255. A width below 1 acts as a threshold at c.
    static func linearVOI(_ values: inout [Float], center: Double, width: Double) {
        let w = max(width, 1)
        let low = center - 0.5 - (w - 1) / 2, high = center - 0.5 + (w - 1) / 2
        for i in values.indices {
            let x = Double(values[i])
            values[i] = x <= low ? 0 : x > high ? 255 : Float(((x - (center - 0.5)) / max(w - 1, 1e-9) + 0.5) * 255)
        }
    }

    /// `low` to 0 and `high` to 255, clamped; a constant image (low == high) becomes 0.
    static func stretch(_ values: inout [Float], low: Double, high: Double) {
        let span = high - low
        for i in values.indices {
            values[i] = span > 0 ? Float(min(max((Double(values[i]) - low) / span, 0), 1) * 255) : 0
        }
    }

    /// numpy's default (linear) percentile of sorted values.
    static func percentile(_ sorted: [Float], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let position = p / 100 * Double(sorted.count - 1)
        let below = Int(position.rounded(.down)), above = min(below + 1, sorted.count - 1)
        let fraction = position - Double(below)
        return Double(sorted[below]) + (Double(sorted[above]) - Double(sorted[below])) * fraction
    }
}
