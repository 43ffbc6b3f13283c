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
        /// A number between minimum and maximum, each bound included unless its `...Exclusive` says otherwise.
        case number(minimum: Double, maximum: Double, minimumExclusive: Bool = false, maximumExclusive: Bool)
        case boolean
        case choice([String])
        /// A list of exactly `count` integers, each in the range (eff-unet's `decoder_channels`).
        case integers(ClosedRange<Int>, count: Int)
        /// An object of the declared fields, or null for none (eff-unet's `classification_head`). A field whose
        /// default is `.null` is required; the others take their defaults when absent.
        case object([ParameterSpec])
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
        case .object: return "object"
        }
    }

    /// The fields of an object parameter (empty for the other kinds).
    public var fields: [ParameterSpec] { if case .object(let f) = kind { return f }; return [] }

    /// `value` if it has this parameter's type and lies in its range (an integer is accepted for a number and
    /// stored as one); otherwise a `ConfigError` naming the parameter and what it accepts.
    public func validate(_ value: ParameterValue) throws -> ParameterValue {
        func bad(_ why: String) -> ConfigError { ConfigError(field: name, reason: why) }
        switch (kind, value) {
        case let (.integer(range), .integer(i)):
            guard range.contains(i) else { throw bad("must be in \(range.lowerBound)...\(range.upperBound), got \(i)") }
            return value
        case let (.number(lo, hi, openLo, openHi), .number(_)), let (.number(lo, hi, openLo, openHi), .integer(_)):
            let x = value.number!
            guard x.isFinite, openLo ? x > lo : x >= lo, openHi ? x < hi : x <= hi else {
                throw bad("must be in \(openLo ? "(" : "[")\(lo), \(hi)\(openHi ? ")" : "]"), got \(x)")
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
        case (.object, .null): return value
        case let (.object(fields), .object(given)):
            if let extra = given.keys.sorted().first(where: { key in !fields.contains { $0.name == key } }) {
                throw ConfigError(
                    field: "\(name).\(extra)",
                    reason: "is not a field of \(name) (its fields: "
                        + fields.map(\.name).joined(separator: ", ") + ")")
            }
            var filled: [String: ParameterValue] = [:]
            for f in fields {
                guard let v = given[f.name] else {
                    guard f.defaultValue != .null else {
                        throw ConfigError(field: "\(name).\(f.name)", reason: "is required")
                    }
                    filled[f.name] = f.defaultValue
                    continue
                }
                do { filled[f.name] = try f.validate(v) } catch let e as ConfigError {
                    throw ConfigError(field: "\(name).\(e.field)", reason: e.reason)
                }
            }
            return .object(filled)
        default:
            throw bad(
                "must be \(Self.article(typeName)) \(typeName)\(fields.isEmpty ? "" : " or null"), got \(value.typeName)"
            )
        }
    }

    /// "an" before a type name that starts with a vowel, else "a".
    public static func article(_ word: String) -> String { "aeiou".contains(word.first ?? "x") ? "an" : "a" }

    /// `"a", "b", "c"`, as error messages list choices.
    public static func quoted(_ names: [String]) -> String { names.map { "\"\($0)\"" }.joined(separator: ", ") }
}

/// A parameter's value: one of the scalar JSON types, a list of integers, or an object of values (null: none).
public enum ParameterValue: Sendable, Hashable, Codable {
    case integer(Int)
    case number(Double)
    case boolean(Bool)
    case string(String)
    case integers([Int])
    case object([String: ParameterValue])
    case null

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
    public var object: [String: ParameterValue]? { if case .object(let o) = self { return o }; return nil }

    public var typeName: String {
        switch self {
        case .integer: return "integer"
        case .number: return "number"
        case .boolean: return "boolean"
        case .string: return "string"
        case .integers: return "array"
        case .object: return "object"
        case .null: return "null"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let o = try? c.decode([String: ParameterValue].self) {
            self = .object(o)
        } else if let b = try? c.decode(Bool.self) {
            self = .boolean(b)
        } else if let i = try? c.decode(Int.self) {
            self = .integer(i)
        } else if let d = try? c.decode(Double.self) {
            self = .number(d)
        } else if let l = try? c.decode([Int].self) {
            self = .integers(l)
        } else {
            self = .string(try c.decode(String.self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let i): try c.encode(i)
        case .number(let d): try c.encode(d)
        case .boolean(let b): try c.encode(b)
        case .string(let s): try c.encode(s)
        case .integers(let l): try c.encode(l)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }
}
