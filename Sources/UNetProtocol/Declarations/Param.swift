import UNetCore

/// What a method declares about one parameter: its name, whether it is required and its JSON Schema (type, range
/// or choices, default, one-line description). The dispatcher refuses names no declaration has; the OpenRPC
/// document (`OpenRPCDocument`) lists each as a content descriptor.
public protocol ParamDeclaration: Sendable {
    var name: String { get }
    var isRequired: Bool { get }
    var schema: JSONObject { get }
    /// Whether the dispatcher checks the keys of nested objects against `schema` (`NestedKeyCheck`); false
    /// where the parameter's reader answers some keys itself (`augment` redirects Keras' settings).
    var checksNestedKeys: Bool { get }
}

extension ParamDeclaration {
    public var checksNestedKeys: Bool { true }
}

extension ParamDeclaration {
    /// The OpenRPC content descriptor: `{"name", "required", "schema"}`, the description inside the schema as
    /// `ParameterSpec.jsonSchema` writes it for `model.create`.
    public var descriptor: JSONValue {
        ["name": .string(name), "required": .bool(isRequired), "schema": .object(schema)]
    }
}

/// A typed parameter key: declared once per method (`static let threshold = Param.number("threshold", in: 0...1,
/// default: 0.5, "...")`), listed in the method's `MethodSpec`, and read by the handler with
/// `try p[Evaluate.threshold]`, so the declaration the document shows and the read the handler does are one
/// object. `Param` itself is optional (`p[x]` is `Value?`); `DefaultedParam` and `RequiredParam` read a `Value`.
public struct Param<Value: Sendable>: ParamDeclaration {
    public let name: String
    public let doc: String
    /// The type and range alone, without default and description.
    public let typeSchema: JSONObject
    /// The value as the document shows a default; nil for values a document cannot show (parsed nested objects).
    let encode: @Sendable (Value) -> JSONValue?
    let read: @Sendable (ParamsReader, String) throws -> Value?
    public private(set) var checksNestedKeys = true

    public init(
        _ name: String, schema: JSONObject, doc: String, encode: @escaping @Sendable (Value) -> JSONValue?,
        read: @escaping @Sendable (ParamsReader, String) throws -> Value?
    ) {
        self.name = name; self.doc = doc; self.typeSchema = schema; self.encode = encode; self.read = read
    }

    public var isRequired: Bool { false }
    public var schema: JSONObject { Self.schema(typeSchema, default: nil, doc: doc) }

    /// This parameter, with its nested keys left to its reader rather than checked by the dispatcher.
    public func nestedKeysCheckedByReader() -> Param {
        var p = self
        p.checksNestedKeys = false
        return p
    }

    /// This parameter with a default, which the document shows and the read returns when it is absent or null.
    public func defaulting(to value: Value) -> DefaultedParam<Value> { DefaultedParam(base: self, value: value) }
    /// This parameter, required: absent or null is -32602 "is required".
    public var required: RequiredParam<Value> { RequiredParam(base: self) }

    static func schema(_ type: JSONObject, default value: JSONValue?, doc: String) -> JSONObject {
        var o = type
        if let value { o["default"] = value }
        if !doc.isEmpty { o["description"] = .string(doc) }
        return o
    }
}

/// A parameter whose absence means a declared default value.
public struct DefaultedParam<Value: Sendable>: ParamDeclaration {
    public let base: Param<Value>
    public let value: Value
    public var name: String { base.name }
    public var isRequired: Bool { false }
    public var checksNestedKeys: Bool { base.checksNestedKeys }
    public var schema: JSONObject { Param<Value>.schema(base.typeSchema, default: base.encode(value), doc: base.doc) }
}

/// A parameter the request must give.
public struct RequiredParam<Value: Sendable>: ParamDeclaration {
    public let base: Param<Value>
    public var name: String { base.name }
    public var isRequired: Bool { true }
    public var checksNestedKeys: Bool { base.checksNestedKeys }
    public var schema: JSONObject { base.schema }
}

/// A declaration given as its JSON content descriptor, for parameters declared elsewhere: `model.create`'s come
/// from the architecture registry (`ModelMethods.createParamsSchema`) and are read through `ParameterSpec`.
public struct DescribedParam: ParamDeclaration {
    public let name: String
    public let isRequired: Bool
    public let schema: JSONObject

    public init(descriptor: JSONValue) {
        name = descriptor["name"]?.stringValue ?? ""
        isRequired = descriptor["required"]?.boolValue ?? false
        schema = descriptor["schema"]?.objectValue ?? [:]
    }
}

extension ParamsReader {
    public subscript<V>(_ param: Param<V>) -> V? { get throws { try param.read(self, param.name) } }

    public subscript<V>(_ param: DefaultedParam<V>) -> V {
        get throws { try param.base.read(self, param.name) ?? param.value }
    }

    public subscript<V>(_ param: RequiredParam<V>) -> V {
        get throws {
            guard let v = try param.base.read(self, param.name) else { throw invalid(param.name, "is required") }
            return v
        }
    }
}

// MARK: - The kinds

extension Param where Value == Int {
    /// An integer, in `range` when given.
    public static func integer(_ name: String, in range: ClosedRange<Int>? = nil, _ doc: String = "") -> Param {
        Param(
            name, schema: ParameterSpec.Kind.integer(range ?? Int.min...Int.max).jsonSchema, doc: doc,
            encode: { JSONValue($0) }, read: { p, key in try p.int(key, in: range) })
    }

    public static func integer(
        _ name: String, in range: ClosedRange<Int>? = nil, default value: Int, _ doc: String = ""
    ) -> DefaultedParam<Int> {
        integer(name, in: range, doc).defaulting(to: value)
    }
}

extension Param where Value == Double {
    /// A number, in `range` (closed) when given.
    public static func number(_ name: String, in range: ClosedRange<Double>? = nil, _ doc: String = "") -> Param {
        let r = range ?? -Double.infinity...Double.infinity
        return Param(
            name,
            schema: ParameterSpec.Kind.number(
                minimum: r.lowerBound, maximum: r.upperBound,
                maximumExclusive: false
            ).jsonSchema,
            doc: doc, encode: { JSONValue($0) }, read: { p, key in try p.double(key, in: range) })
    }

    public static func number(
        _ name: String, in range: ClosedRange<Double>? = nil, default value: Double, _ doc: String = ""
    ) -> DefaultedParam<Double> {
        number(name, in: range, doc).defaulting(to: value)
    }
}

extension Param where Value == Bool {
    public static func boolean(_ name: String, _ doc: String = "") -> Param {
        Param(
            name, schema: ParameterSpec.Kind.boolean.jsonSchema, doc: doc, encode: { .bool($0) },
            read: { p, key in try p.bool(key) })
    }

    public static func boolean(_ name: String, default value: Bool, _ doc: String = "") -> DefaultedParam<Bool> {
        boolean(name, doc).defaulting(to: value)
    }
}

extension Param where Value == String {
    /// A string, one of `choices` when given.
    public static func string(_ name: String, oneOf choices: [String]? = nil, _ doc: String = "") -> Param {
        Param(
            name, schema: choices.map { ParameterSpec.Kind.choice($0).jsonSchema } ?? ["type": "string"],
            doc: doc, encode: { .string($0) }, read: { p, key in try p.string(key, oneOf: choices) })
    }

    public static func string(
        _ name: String, oneOf choices: [String]? = nil, default value: String, _ doc: String = ""
    ) -> DefaultedParam<String> {
        string(name, oneOf: choices, doc).defaulting(to: value)
    }

    /// A file or folder path: non-empty, no NUL (`ParamsReader.path`).
    public static func path(_ name: String, _ doc: String = "") -> Param {
        Param(
            name, schema: ["type": "string", "minLength": 1, "pattern": "^[^\\u0000]*$"],
            doc: doc.isEmpty ? "a file path: non-empty, no NUL (see PROTOCOL.md, Paths)" : doc,
            encode: { .string($0) }, read: { p, key in try p.path(key) })
    }
}

extension Param where Value == [Int] {
    /// An array of integers, `count` of them when given, each in `range` when given.
    public static func integers(
        _ name: String, count: ClosedRange<Int>? = nil, each range: ClosedRange<Int>? = nil, _ doc: String = ""
    ) -> Param {
        var schema: JSONObject = [
            "type": "array",
            "items": .object(ParameterSpec.Kind.integer(range ?? Int.min...Int.max).jsonSchema),
        ]
        if let count {
            schema["minItems"] = JSONValue(count.lowerBound); schema["maxItems"] = JSONValue(count.upperBound)
        }
        return Param(
            name, schema: schema, doc: doc, encode: { JSONValue($0) },
            read: { p, key in try p.intArray(key, count: count, each: range) })
    }
}

extension Param where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// A string naming a case of `type`.
    public static func choice(_ name: String, _ type: Value.Type, _ doc: String = "") -> Param {
        Param(
            name, schema: ParameterSpec.Kind.choice(Value.allCases.map(\.rawValue)).jsonSchema, doc: doc,
            encode: { .string($0.rawValue) }, read: { p, key in try p.enumeration(key, type) })
    }

    public static func choice(_ name: String, _ type: Value.Type, default value: Value, _ doc: String = "")
        -> DefaultedParam<Value>
    {
        choice(name, type, doc).defaulting(to: value)
    }
}

extension Param {
    /// A parameter whose schema is a declared fragment (a `$ref` to a shared schema, or a nested object too
    /// irregular for the kinds above) and whose value a reader of its own parses (`HarmonizeParams.read`, ...).
    /// `read` gets the request's top-level reader and reports nested errors with the dotted path.
    public static func declared(
        _ name: String, schema: JSONObject, _ doc: String = "",
        read: @escaping @Sendable (ParamsReader) throws -> Value?
    ) -> Param {
        Param(name, schema: schema, doc: doc, encode: { _ in nil }, read: { p, _ in try read(p) })
    }

    /// `{"$ref": "#/components/schemas/NAME"}`.
    public static func ref(_ component: String) -> JSONObject { ["$ref": .string("#/components/schemas/\(component)")] }
}

extension Param where Value == JSONValue {
    /// A parameter with a declared schema whose raw value the handler inspects itself.
    public static func json(_ name: String, schema: JSONObject, _ doc: String = "") -> Param {
        Param(name, schema: schema, doc: doc, encode: { $0 }, read: { p, key in p.value(key) })
    }
}

extension Param where Value == JSONValue {
    /// A parameter whose schema is a declared fragment (`ParamSchemas`).
    public static func json(_ name: String, fragment: SchemaFragment, _ doc: String = "") -> Param {
        json(name, schema: fragment.json.objectValue ?? [:], doc)
    }
}
