/// The dispatcher's check of nested objects against the declarations: a key inside a declared object whose
/// schema closes it (`"additionalProperties": false`, e.g. `harmonize`, `harmonize.clahe`, `tile`, `postprocess`,
/// `phantoms`) that the schema does not list is -32602 naming `param.key` and listing the known ones, before the
/// handler runs, as top-level names are. `$ref`s are resolved in the document's components; arrays are checked
/// item by item; `anyOf`/`oneOf` schemas are left to the nested readers (which also `finish()` every object).
enum NestedKeyCheck {
    /// The shared schemas, decoded once.
    static let components: JSONValue = ProtocolSchemas.components.json

    static func firstUnknown(in params: JSONObject, declared: [ParamDeclaration]) -> RPCError? {
        for p in declared where p.checksNestedKeys {
            guard let v = params[p.name], v != .null else { continue }
            if let e = check(v, schema: .object(p.schema), path: p.name) { return e }
        }
        return nil
    }

    static func resolve(_ schema: JSONValue) -> JSONValue {
        let prefix = "#/components/schemas/"
        guard let ref = schema["$ref"]?.stringValue, ref.hasPrefix(prefix) else { return schema }
        return components[String(ref.dropFirst(prefix.count))] ?? schema
    }

    private static func check(_ value: JSONValue, schema: JSONValue, path: String) -> RPCError? {
        let s = resolve(schema)
        switch value {
        case .object(let o):
            guard let properties = s["properties"]?.objectValue else { return nil }
            if s["additionalProperties"] == .bool(false),
                let key = o.keys.sorted().first(where: { properties[$0] == nil })
            {
                return .invalidParams(
                    field: "\(path).\(key)",
                    reason: "is not a known parameter (known: \(properties.keys.sorted().joined(separator: ", ")))")
            }
            for (key, item) in o where item != .null {
                if let sub = properties[key], let e = check(item, schema: sub, path: "\(path).\(key)") { return e }
            }
        case .array(let items):
            guard let itemSchema = s["items"], itemSchema.objectValue != nil else { return nil }
            for (i, item) in items.enumerated() {
                if let e = check(item, schema: itemSchema, path: "\(path)[\(i)]") { return e }
            }
        default: break
        }
        return nil
    }
}
