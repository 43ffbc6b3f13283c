import UNetCore

/// The protocol side of a `ParameterSpec`: reading and checking its value out of a params object, and rendering
/// it as JSON Schema (`openrpc.json`) and as a row of `model.architectures`.
extension ParameterSpec {
    /// The value of this parameter in `p`, checked against the declaration, or nil when absent (or null). A wrong
    /// type or range is a -32602 naming the field (with `p`'s path) and what it accepts.
    public func read(from p: ParamsReader) throws -> ParameterValue? {
        guard let raw = p.value(name) else { return nil }
        if case let .integers(range, count) = kind {
            // The count and each item's range are checked here, so the error names the item (`field[2]`).
            return .integers(try p.intArray(name, count: count...count, each: range)!)
        }
        if case .object(let fields) = kind {
            // Each field through its own declaration, so an error names `name.field`; then the object's rules.
            guard raw.objectValue != nil else {
                throw p.invalid(name, "must be an object or null, got \(raw.typeName)")
            }
            let nested = try p.object(name)!
            var given: [String: ParameterValue] = [:]
            for f in fields { given[f.name] = try f.read(from: nested) }
            try nested.finish()
            do { return try validate(.object(given)) } catch let e as ConfigError {
                throw p.invalid(e.field, e.reason)
            }
        }
        let value: ParameterValue
        switch raw {
        case .bool(let b): value = .boolean(b)
        case .int(let i): value = .integer(Int(i))
        case .double(let d):
            // 2.0 counts as an integer (Python's json may write it); 2.5 for an integer is a type error.
            if case .integer = kind, let i = raw.intValue { value = .integer(Int(i)) } else { value = .number(d) }
        case .string(let s): value = .string(s)
        default:
            throw p.invalid(name, "must be \(Self.article(typeName)) \(typeName), got \(raw.typeName)")
        }
        do { return try validate(value) } catch let e as ConfigError { throw p.invalid(name, e.reason) }
    }

    /// The JSON Schema of the accepted values, with the default and the description.
    public var jsonSchema: JSONValue {
        var o = typeSchema
        o["default"] = defaultValue.json
        o["description"] = .string(doc)
        return .object(o)
    }

    /// The type and range alone.
    public var typeSchema: JSONObject { kind.jsonSchema }

    /// A field's schema inside an object parameter: its type, its default unless it is required, its description.
    var jsonSchemaOfField: JSONValue {
        var o = typeSchema
        if defaultValue != .null { o["default"] = defaultValue.json }
        o["description"] = .string(doc)
        return .object(o)
    }

    /// `model.architectures`' description of the parameter.
    public var json: JSONValue {
        var o: JSONObject = ["name": .string(name), "type": .string(typeName), "default": defaultValue.json]
        switch kind {
        case .integer(let r): o["minimum"] = JSONValue(r.lowerBound); o["maximum"] = JSONValue(r.upperBound)
        case let .number(lo, hi, openLo, openHi):
            o[openLo ? "exclusive_minimum" : "minimum"] = JSONValue(lo)
            o[openHi ? "exclusive_maximum" : "maximum"] = JSONValue(hi)
        case .boolean: break
        case .choice(let choices): o["choices"] = JSONValue(choices)
        case let .integers(r, count):
            o["minimum"] = JSONValue(r.lowerBound); o["maximum"] = JSONValue(r.upperBound);
            o["items"] = JSONValue(count)
        case .object(let fields):
            o["fields"] = .array(
                fields.map { f in
                    guard case .object(var row) = f.json else { return f.json }
                    if f.defaultValue == .null { row["default"] = nil; row["required"] = true }
                    return .object(row)
                })
        }
        o["description"] = .string(doc)
        return .object(o)
    }
}

extension ParameterValue {
    public var json: JSONValue {
        switch self {
        case .integer(let i): return JSONValue(i)
        case .number(let d): return JSONValue(d)
        case .boolean(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .integers(let l): return JSONValue(l)
        case .object(let o): return .object(JSONObject(o.sorted { $0.key < $1.key }.map { ($0.key, $0.value.json) }))
        case .null: return .null
        }
    }
}

extension ParameterSpec.Kind {
    /// The JSON Schema of the kind's values: its type and range (a bound at the end of Int's range, or an
    /// infinite one, is left out, as "no bound"), shared by the architectures' parameters and the methods' `Param`s.
    public var jsonSchema: JSONObject {
        switch self {
        case .integer(let r): return Self.bounded(["type": "integer"], r)
        case let .number(lo, hi, openLo, openHi):
            var o: JSONObject = ["type": "number"]
            if lo.isFinite { o[openLo ? "exclusiveMinimum" : "minimum"] = JSONValue(lo) }
            if hi.isFinite { o[openHi ? "exclusiveMaximum" : "maximum"] = JSONValue(hi) }
            return o
        case .boolean: return ["type": "boolean"]
        case .choice(let choices): return ["type": "string", "enum": JSONValue(choices)]
        case let .integers(r, count):
            return [
                "type": "array", "items": .object(Self.bounded(["type": "integer"], r)),
                "minItems": JSONValue(count), "maxItems": JSONValue(count),
            ]
        case .object(let fields):
            var properties: JSONObject = [:]
            for f in fields { properties[f.name] = f.jsonSchemaOfField }
            return [
                "type": ["object", "null"], "properties": .object(properties),
                "required": JSONValue(fields.filter { $0.defaultValue == .null }.map(\.name)),
                "additionalProperties": false,
            ]
        }
    }

    private static func bounded(_ o: JSONObject, _ r: ClosedRange<Int>) -> JSONObject {
        var o = o
        if r.lowerBound != Int.min { o["minimum"] = JSONValue(r.lowerBound) }
        if r.upperBound != Int.max { o["maximum"] = JSONValue(r.upperBound) }
        return o
    }
}
