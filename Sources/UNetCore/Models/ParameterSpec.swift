/// One declared parameter: its name, type, default, allowed range or choices and a one-line description.
///
/// Why a plain value rather than a Codable struct per architecture: a declaration that is data can be asked
/// everything the engine needs from it without a second copy. The protocol layer validates a request against
/// it (and names the valid choices when a value is wrong), renders it as JSON Schema for `openrpc.json` and
/// lists it in `model.architectures`; checkpoints decode their configuration through it; a builder reads the
/// typed value. A Codable struct would give the types but not the ranges, defaults and docs, which would then
/// live in four places again (the issue-19 drift). It is Sendable and knows no JSON type, so UNetCore (which
/// has no JSON value type) can declare the architectures and any method can later declare its params this way.
public struct ParameterSpec: Sendable, Equatable {
    /// The type of a parameter and the values it accepts.
    public enum Kind: Sendable, Equatable {
        case integer(ClosedRange<Int>)
        /// A number in [minimum, maximum], or [minimum, maximum) when `maximumExclusive`.
        case number(minimum: Double, maximum: Double, maximumExclusive: Bool)
        case boolean
        case choice([String])
        /// A list of exactly `count` integers, each in the range (eff-unet's `decoder_channels`).
        case integers(ClosedRange<Int>, count: Int)
    }

    public let name: String
    public let kind: Kind
    public let defaultValue: ParameterValue
    public let doc: String

    public init(_ name: String, _ kind: Kind, default defaultValue: ParameterValue, _ doc: String) {
        self.name = name; self.kind = kind; self.defaultValue = defaultValue; self.doc = doc
    }

    /// The JSON type name of the kind ("integer", "number", "boolean", "string").
    public var typeName: String {
        switch kind {
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        case .choice: return "string"
        case .integers: return "array"
        }
    }

    /// `value` if it has this parameter's type and lies in its range (an integer is accepted for a number and
    /// stored as one); otherwise a `ConfigError` naming the parameter and what it accepts.
    public func validate(_ value: ParameterValue) throws -> ParameterValue {
        func bad(_ why: String) -> ConfigError { ConfigError(field: name, reason: why) }
        switch (kind, value) {
        case let (.integer(range), .integer(i)):
            guard range.contains(i) else { throw bad("must be in \(range.lowerBound)...\(range.upperBound), got \(i)") }
            return value
        case let (.number(lo, hi, open), .number(_)), let (.number(lo, hi, open), .integer(_)):
            let x = value.number!
            guard x.isFinite, x >= lo, open ? x < hi : x <= hi else {
                throw bad("must be in [\(lo), \(hi)\(open ? ")" : "]"), got \(x)")
            }
            return .number(x)
        case (.boolean, .boolean): return value
        case let (.choice(choices), .string(s)):
            guard choices.contains(s) else { throw bad("must be one of \(Self.quoted(choices)), got \"\(s)\"") }
            return value
        case let (.integers(range, count), .integers(list)):
            guard list.count == count else { throw bad("must have \(count) items, got \(list.count)") }
            if let i = list.firstIndex(where: { !range.contains($0) }) {
                throw bad("items must be in \(range.lowerBound)...\(range.upperBound), got \(list[i]) at index \(i)")
            }
            return value
        default:
            throw bad("must be \(typeName == "integer" ? "an" : "a") \(typeName), got \(value.typeName)")
        }
    }

    /// `"a", "b", "c"`, as error messages list choices.
    public static func quoted(_ names: [String]) -> String { names.map { "\"\($0)\"" }.joined(separator: ", ") }
}

/// A parameter's value: one of the scalar JSON types.
public enum ParameterValue: Sendable, Hashable, Codable {
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case string(String)
    case integers([Int])

    public var integer: Int? { if case .integer(let i) = self { return i }; return nil }
    public var number: Double? {
        switch self {
        case .number(let d): return d
        case .integer(let i): return Double(i)
        default: return nil
        }
    }
    public var boolean: Bool? { if case .boolean(let b) = self { return b }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var integers: [Int]? { if case .integers(let l) = self { return l }; return nil }

    public var typeName: String {
        switch self {
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        case .string: return "string"
        case .integers: return "array"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .boolean(b) }
        else if let i = try? c.decode(Int.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let l = try? c.decode([Int].self) { self = .integers(l) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .string(let s): try c.encode(s)
        case .integers(let l): try c.encode(l)
        }
    }
}
