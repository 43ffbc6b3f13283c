/// Converts between `Codable` values and `JSONValue`, so that the configurations stored in files (a checkpoint's
/// preprocessing, model configuration, optimizer settings) and the objects hosts send (`normalization`) keep their
/// `Codable` conformances as their schema while the text goes through the one JSON stack, jansson
/// (`JSONCodec`), instead of Foundation's JSONEncoder/JSONDecoder.
///
/// Integers are `.int` (an unsigned one beyond Int64 cannot be written: jansson has no such integers); Float and
/// Double are `.double`; nil is `.null` in arrays and a missing key in objects (as JSONEncoder writes it).
public enum JSONValueCoding {
    /// Why a value did not convert: the coding path and what was wrong.
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
    }

    public static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try Node.encode(value, path: []).json
    }

    public static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try ValueDecoder(value: value, codingPath: []).decode(type)
    }

    /// `decode` from JSON text (a file's metadata string).
    public static func decode<T: Decodable>(_ type: T.Type, fromText text: String) throws -> T {
        try decode(type, from: JSONCodec.decode(text, maximumDepth: JSONCodec.fileMaximumDepth))
    }

    /// `encode` as the compact, key-sorted, exact text of `JSONCodec.encodeForFile`.
    public static func text<T: Encodable>(_ value: T) throws -> String { JSONCodec.encodeForFile(try encode(value)) }

    static func pathString(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            .trimmingPrefix(".")
    }
}

extension String {
    fileprivate func trimmingPrefix(_ p: String) -> String { hasPrefix(p) ? String(dropFirst(p.count)) : self }
}

/// A position in the `JSONValue` being built: a scalar, an object or an array whose members are filled in by the
/// containers that hold a reference to it.
private final class Node {
    var scalar: JSONValue?
    var members: [(String, Node)]?
    var items: [Node]?

    init(_ scalar: JSONValue? = nil) { self.scalar = scalar }

    var json: JSONValue {
        if let members { return .object(JSONObject(members.map { ($0.0, $0.1.json) })) }
        if let items { return .array(items.map(\.json)) }
        return scalar ?? .object([:])  // a value that encoded nothing, as JSONEncoder writes it
    }

    /// The node for `value`: primitives directly (their own `encode(to:)` would come back to the generic
    /// container methods), anything else through its `encode(to:)`.
    static func encode(_ value: Encodable, path: [CodingKey]) throws -> Node {
        switch value {
        case let v as Bool: return Node(.bool(v))
        case let v as String: return Node(.string(v))
        case let v as Double: return Node(.double(v))
        case let v as Float: return Node(.double(Double(v)))
        case let v as Int: return Node(.int(Int64(v)))
        case let v as Int8: return Node(.int(Int64(v)))
        case let v as Int16: return Node(.int(Int64(v)))
        case let v as Int32: return Node(.int(Int64(v)))
        case let v as Int64: return Node(.int(v))
        case let v as UInt8: return Node(.int(Int64(v)))
        case let v as UInt16: return Node(.int(Int64(v)))
        case let v as UInt32: return Node(.int(Int64(v)))
        case let v as UInt: return try unsigned(UInt64(v), path)
        case let v as UInt64: return try unsigned(v, path)
        default:
            let node = Node()
            try value.encode(to: NodeEncoder(node: node, codingPath: path))
            return node
        }
    }

    private static func unsigned(_ v: UInt64, _ path: [CodingKey]) throws -> Node {
        guard let i = Int64(exactly: v) else {
            throw JSONValueCoding.Failure(
                path: JSONValueCoding.pathString(path),
                reason: "\(v) is beyond the integers JSON text here can hold")
        }
        return Node(.int(i))
    }
}

private struct NodeEncoder: Encoder {
    let node: Node
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if node.members == nil { node.members = [] }
        return KeyedEncodingContainer(KeyedNodeContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if node.items == nil { node.items = [] }
        return UnkeyedNodeContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        SingleNodeContainer(node: node, codingPath: codingPath)
    }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [CodingKey]

    private func put(_ child: Node, _ key: Key) {
        if let i = node.members?.firstIndex(where: { $0.0 == key.stringValue }) {
            node.members?[i].1 = child
        } else {
            node.members?.append((key.stringValue, child))
        }
    }

    mutating func encodeNil(forKey key: Key) throws { put(Node(.null), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try Node.encode(value, path: codingPath + [key]), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = Node()
        child.members = []
        put(child, key)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let child = Node()
        child.items = []
        put(child, key)
        return UnkeyedNodeContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        let child = Node()
        put(child, key)
        return NodeEncoder(node: child, codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ i: Int) { intValue = i; stringValue = "\(i)" }
    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { return nil }
}

private struct UnkeyedNodeContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [CodingKey]
    var count: Int { node.items?.count ?? 0 }

    private func append(_ child: Node) { node.items?.append(child) }

    mutating func encodeNil() throws { append(Node(.null)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try Node.encode(value, path: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        let child = Node()
        child.members = []
        let path = codingPath + [IndexKey(count)]
        append(child)
        return KeyedEncodingContainer(KeyedNodeContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let child = Node()
        child.items = []
        let path = codingPath + [IndexKey(count)]
        append(child)
        return UnkeyedNodeContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> Encoder {
        let child = Node()
        let path = codingPath + [IndexKey(count)]
        append(child)
        return NodeEncoder(node: child, codingPath: path)
    }
}

private struct SingleNodeContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [CodingKey]

    mutating func encodeNil() throws { node.scalar = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = try Node.encode(value, path: codingPath)
        node.scalar = child.scalar
        node.members = child.members
        node.items = child.items
    }
}

// MARK: - Decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func failure(_ reason: String) -> JSONValueCoding.Failure {
        JSONValueCoding.Failure(path: JSONValueCoding.pathString(codingPath), reason: reason)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard let o = value.objectValue else { throw failure("expected an object, got \(value.typeName)") }
        return KeyedDecodingContainer(KeyedValueContainer<Key>(object: o, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard let a = value.arrayValue else { throw failure("expected an array, got \(value.typeName)") }
        return UnkeyedValueContainer(items: a, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    /// `value` as a `T`: primitives directly, anything else through its `init(from:)`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        func integer<I: FixedWidthInteger>(_: I.Type) throws -> I {
            guard let i = value.intValue, let n = I(exactly: i) else {
                throw failure("expected an integer that fits \(I.self), got \(JSONCodec.encodeString(value))")
            }
            return n
        }
        switch type {
        case is Bool.Type:
            guard let b = value.boolValue else { throw failure("expected a boolean, got \(value.typeName)") }
            return b as! T
        case is String.Type:
            guard let s = value.stringValue else { throw failure("expected a string, got \(value.typeName)") }
            return s as! T
        case is Double.Type:
            guard let d = value.doubleValue else { throw failure("expected a number, got \(value.typeName)") }
            return d as! T
        case is Float.Type:
            guard let d = value.doubleValue else { throw failure("expected a number, got \(value.typeName)") }
            return Float(d) as! T
        case is Int.Type: return try integer(Int.self) as! T
        case is Int8.Type: return try integer(Int8.self) as! T
        case is Int16.Type: return try integer(Int16.self) as! T
        case is Int32.Type: return try integer(Int32.self) as! T
        case is Int64.Type: return try integer(Int64.self) as! T
        case is UInt.Type: return try integer(UInt.self) as! T
        case is UInt8.Type: return try integer(UInt8.self) as! T
        case is UInt16.Type: return try integer(UInt16.self) as! T
        case is UInt32.Type: return try integer(UInt32.self) as! T
        case is UInt64.Type: return try integer(UInt64.self) as! T
        default: return try T(from: self)
        }
    }
}

private struct KeyedValueContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [CodingKey]

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func child(_ key: Key) throws -> ValueDecoder {
        guard let v = object[key.stringValue] else {
            throw JSONValueCoding.Failure(path: JSONValueCoding.pathString(codingPath + [key]), reason: "is missing")
        }
        return ValueDecoder(value: v, codingPath: codingPath + [key])
    }

    func decodeNil(forKey key: Key) throws -> Bool { object[key.stringValue].map { $0 == .null } ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(type) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = object[key.stringValue], v != .null else { return nil }
        return try ValueDecoder(value: v, codingPath: codingPath + [key]).decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try child(key).unkeyedContainer()
    }

    func superDecoder() throws -> Decoder { try child(Key(stringValue: "super")!) }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

private struct UnkeyedValueContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0

    init(items: [JSONValue], codingPath: [CodingKey]) { self.items = items; self.codingPath = codingPath }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw JSONValueCoding.Failure(
                path: JSONValueCoding.pathString(codingPath),
                reason: "has only \(items.count) items")
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<
        NestedKey
    > {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(type) }
}
