/// Reads typed fields out of a params object by name, so every handler reports wrong types, ranges and
/// unknown names the same way: -32602 with `data` {"field", "reason"}.
///
/// Top-level unknown names are rejected by the dispatcher from each method's declared list before the handler
/// runs; `finish()` does the same for nested objects (`phantoms`, an image, ...), whose fields are read through
/// `object(_:)` and reported with a dotted path (`images[1].array.shape`).
public final class ParamsReader {
    public let object: JSONObject
    /// Prefix for field names in errors: "" at the top, "images[0]." inside an image.
    public let path: String
    private var consumed = Set<String>()

    public init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    public func fieldName(_ key: String) -> String { path + key }

    public func invalid(_ key: String, _ reason: String) -> RPCError {
        .invalidParams(field: fieldName(key), reason: reason)
    }

    public func has(_ key: String) -> Bool { object[key] != nil }

    /// The raw value, marking the key as read. `null` counts as absent, so hosts may send `"seed": null` for
    /// "use the default".
    public func value(_ key: String) -> JSONValue? {
        consumed.insert(key)
        if let v = object[key], v != .null { return v }
        return nil
    }

    private func required<T>(_ key: String, _ read: (String) throws -> T?) throws -> T {
        guard let v = try read(key) else { throw invalid(key, "is required") }
        return v
    }

    // MARK: Scalars

    public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let v = value(key) else { return nil }
        return try integer(v, key, in: range)
    }

    /// `v` as an Int in `range`. A whole number too large for an integer (the codec reads integers beyond int64
    /// as reals) is out of range rather than of the wrong type.
    private func integer(_ v: JSONValue, _ key: String, in range: ClosedRange<Int>?) throws -> Int {
        guard let i = v.intValue, let n = Int(exactly: i) else {
            if case .double(let d) = v, d.rounded() == d {
                let r = range ?? Int.min...Int.max
                throw invalid(key, "must be an integer in \(r.lowerBound)...\(r.upperBound), got \(d)")
            }
            throw invalid(key, "must be an integer, got \(v.typeName)")
        }
        if let range, !range.contains(n) {
            throw invalid(key, "must be in \(range.lowerBound)...\(range.upperBound), got \(n)")
        }
        return n
    }

    public func int(_ key: String, default d: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        try int(key, in: range) ?? d
    }

    public func requiredInt(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int {
        try required(key) { try int($0, in: range) }
    }

    public func double(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let v = value(key) else { return nil }
        guard let d = v.doubleValue else { throw invalid(key, "must be a number, got \(v.typeName)") }
        if let range, !range.contains(d) {
            throw invalid(key, "must be in [\(range.lowerBound), \(range.upperBound)], got \(d)")
        }
        return d
    }

    public func double(_ key: String, default d: Double, in range: ClosedRange<Double>? = nil) throws -> Double {
        try double(key, in: range) ?? d
    }

    public func bool(_ key: String) throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard let b = v.boolValue else { throw invalid(key, "must be a boolean, got \(v.typeName)") }
        return b
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool { try bool(key) ?? d }

    public func string(_ key: String, oneOf choices: [String]? = nil) throws -> String? {
        guard let v = value(key) else { return nil }
        guard let s = v.stringValue else { throw invalid(key, "must be a string, got \(v.typeName)") }
        if let choices, !choices.contains(s) {
            throw invalid(key, "must be one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    public func string(_ key: String, default d: String, oneOf choices: [String]? = nil) throws -> String {
        try string(key, oneOf: choices) ?? d
    }

    public func requiredString(_ key: String, oneOf choices: [String]? = nil) throws -> String {
        try required(key) { try string($0, oneOf: choices) }
    }

    /// A file or folder path: a non-empty string without NUL. The C calls that open files stop at a NUL, so
    /// `"x\u0000.png"` would silently write or read `x`; every path param is read here to refuse that.
    public func path(_ key: String) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard !s.isEmpty else { throw invalid(key, "must not be empty") }
        guard !s.utf8.contains(0) else { throw invalid(key, "must not contain a NUL character") }
        return s
    }

    public func requiredPath(_ key: String) throws -> String {
        try required(key) { try path($0) }
    }

    /// A string naming a value of a `RawRepresentable` enum, e.g. `ModelConfig.Upsampling`.
    public func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws -> E?
    where E.RawValue == String {
        guard let s = try string(key, oneOf: E.allCases.map(\.rawValue)) else { return nil }
        return E(rawValue: s)
    }

    // MARK: Containers

    public func array(_ key: String, count: ClosedRange<Int>? = nil) throws -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard let a = v.arrayValue else { throw invalid(key, "must be an array, got \(v.typeName)") }
        if let count, !count.contains(a.count) {
            throw invalid(key, "must have \(count.lowerBound)...\(count.upperBound) elements, got \(a.count)")
        }
        return a
    }

    public func requiredArray(_ key: String, count: ClosedRange<Int>? = nil) throws -> [JSONValue] {
        try required(key) { try array($0, count: count) }
    }

    /// An array of integers, each in `range`.
    public func intArray(
        _ key: String, count: ClosedRange<Int>? = nil, each range: ClosedRange<Int>? = nil
    ) throws -> [Int]? {
        guard let a = try array(key, count: count) else { return nil }
        return try a.enumerated().map { i, v in try integer(v, "\(key)[\(i)]", in: range) }
    }

    /// A nested object, read through its own reader whose errors name `key.field`.
    public func object(_ key: String) throws -> ParamsReader? {
        guard let v = value(key) else { return nil }
        guard let o = v.objectValue else { throw invalid(key, "must be an object, got \(v.typeName)") }
        return ParamsReader(o, path: fieldName(key) + ".")
    }

    /// A reader for element `index` of an array field, which must be an object.
    public func element(_ key: String, _ index: Int, of values: [JSONValue]) throws -> ParamsReader {
        let name = "\(key)[\(index)]"
        guard let o = values[index].objectValue else {
            throw invalid(name, "must be an object, got \(values[index].typeName)")
        }
        return ParamsReader(o, path: fieldName(name) + ".")
    }

    /// Rejects any key that no read asked for, listing the known ones (every key read so far, plus `known`) as the
    /// dispatcher does for top-level params, so a typo inside `augment` or `callbacks` shows the right spelling.
    /// Call it after reading every field the object may have.
    public func finish(known: [String] = []) throws {
        if let extra = object.keys.sorted().first(where: { !consumed.contains($0) && !known.contains($0) }) {
            let names = consumed.union(known).sorted()
            throw invalid(extra, "is not a known parameter (known: \(names.joined(separator: ", ")))")
        }
    }
}
