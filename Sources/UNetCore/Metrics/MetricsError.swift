/// Why a set of predictions could not be scored.
///
/// The metrics throw instead of trapping: they run inside a long-lived server, where a malformed `evaluate`
/// request (or a network that produced NaN) must become an error response, not a crash.
public enum MetricsError: Error, CustomStringConvertible, Equatable {
    /// No samples (or no pixels) at all.
    case empty
    /// Two inputs that must match in length or shape do not.
    case lengthMismatch(String)
    /// A label outside `0..<classCount` (for binary metrics, outside {0, 1}).
    case invalidLabel(index: Int, label: Int)
    /// A score that is NaN or infinite (scikit-learn refuses these too).
    case nonFiniteScore(index: Int)
    /// A parameter out of its range, such as a class count below 2.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .empty: return "no samples to score"
        case .lengthMismatch(let why): return "length mismatch: \(why)"
        case .invalidLabel(let i, let label): return "label \(label) at index \(i) is not a valid class"
        case .nonFiniteScore(let i): return "score at index \(i) is NaN or infinite"
        case .invalidArgument(let why): return "invalid argument: \(why)"
        }
    }
}
