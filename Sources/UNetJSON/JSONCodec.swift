import CJansson

/// Converts between JSON text and `JSONValue` with jansson. This is the only file that touches `json_t*`.
///
/// Decoding accepts any JSON value at the top level (a bare array or number is valid JSON, only an invalid
/// request), accepts `\u0000` in strings but not in keys (a jansson limit), rejects duplicate keys and invalid
/// UTF-8, and refuses nesting deeper than `maximumDepth` (jansson
/// itself stops at 2048; our own limit is far lower so that no recursion over a message can exhaust a stack).
/// Encoding writes compact single-line UTF-8; a non-finite double becomes `null` (JSON has no NaN), and doubles
/// carry 9 significant digits, enough for a float32 to round-trip.
public enum JSONCodec {
    /// Why text did not decode.
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        /// Not JSON: jansson's message, with the 1-based line and column and the byte position.
        case syntax(message: String, position: Int)
        /// Valid JSON nested deeper than the limit.
        case tooDeep(limit: Int)

        public var description: String {
            switch self {
            case .syntax(let m, let p): return "\(m) (at byte \(p))"
            case .tooDeep(let limit): return "nesting is deeper than \(limit) levels"
            }
        }
    }

    public static let defaultMaximumDepth = 64

    // Flags from jansson.h (the function-like macro JSON_REAL_PRECISION does not import into Swift).
    private static let decodeFlags = 0x4 | 0x1 | 0x10  // JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL
    private static let encodeFlags = 0x20 | 0x200 | ((9 & 0x1F) << 11)  // COMPACT | ENCODE_ANY | REAL_PRECISION(9)
    private static let prettyFlags = 2 | 0x200 | ((9 & 0x1F) << 11)  // INDENT(2) | ENCODE_ANY | REAL_PRECISION(9)
    // COMPACT | ENCODE_ANY | SORT_KEYS | REAL_PRECISION(17): doubles round-trip exactly, keys in a stable order.
    private static let fileFlags = 0x20 | 0x200 | 0x80 | ((17 & 0x1F) << 11)

    /// How many integers beyond int64 one text may hold; each costs a re-parse (see `decode`).
    public static let maximumOversizeIntegers = 16

    /// Decodes one JSON text (one protocol line without its newline).
    ///
    /// jansson refuses an integer beyond int64 ("too big integer") and the whole line would be a parse error with
    /// no id. Valid JSON has no size limit on numbers, so such an integer is read as the real it is (its digits
    /// with ".0" appended, re-parsed): the request keeps its id and the field reader reports it out of range.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, maximumDepth: Int = defaultMaximumDepth
    )
        throws -> JSONValue
    {
        var text: [UInt8]?  // the line with its oversize integers rewritten, once there is one
        for _ in 0...maximumOversizeIntegers {
            do {
                if let text { return try text.withUnsafeBytes { try decodeOnce($0, maximumDepth: maximumDepth) } }
                return try decodeOnce(bytes, maximumDepth: maximumDepth)
            } catch OversizeInteger.end(let position) {
                var t = text ?? Array(bytes)
                // jansson's position is just past the integer (or past one character of lookahead).
                var end = min(position, t.count)
                if end > 0, !isDigit(t[end - 1]), end > 1, isDigit(t[end - 2]) { end -= 1 }
                guard end > 0, isDigit(t[end - 1]) else { break }
                t.insert(contentsOf: Array(".0".utf8), at: end)
                text = t
            }
        }
        throw DecodeError.syntax(message: "too many integers beyond int64", position: 0)
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// Thrown by `decodeOnce` when jansson stops at an integer that does not fit int64.
    private enum OversizeInteger: Error { case end(position: Int) }

    private static func decodeOnce(_ bytes: UnsafeRawBufferPointer, maximumDepth: Int) throws -> JSONValue {
        var error = json_error_t()
        let base = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) ?? UnsafePointer<CChar>(bitPattern: 1)!
        guard let root = json_loadb(base, bytes.count, decodeFlags, &error) else {
            if json_error_code(&error) == json_error_stack_overflow { throw DecodeError.tooDeep(limit: maximumDepth) }
            if json_error_code(&error) == json_error_numeric_overflow,
                withUnsafeBytes(
                    of: &error.text,
                    {
                        String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                    }
                ).contains("integer")
            {
                throw OversizeInteger.end(position: Int(error.position))
            }
            let message = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw DecodeError.syntax(message: message, position: Int(error.position))
        }
        defer { json_decref(root) }
        return try convert(root, depth: 1, limit: maximumDepth)
    }

    public static func decode(_ bytes: [UInt8], maximumDepth: Int = defaultMaximumDepth) throws -> JSONValue {
        try bytes.withUnsafeBytes { try decode($0, maximumDepth: maximumDepth) }
    }

    public static func decode(_ text: String, maximumDepth: Int = defaultMaximumDepth) throws -> JSONValue {
        try decode(Array(text.utf8), maximumDepth: maximumDepth)
    }

    /// `depth` counts containers from the top: `{}` is depth 1, `{"a":[]}` depth 2.
    private static func convert(_ j: UnsafeMutablePointer<json_t>, depth: Int, limit: Int) throws -> JSONValue {
        switch j.pointee.type {
        case JSON_OBJECT:
            guard depth <= limit else { throw DecodeError.tooDeep(limit: limit) }
            var object = JSONObject()
            var iter = json_object_iter(j)
            while let it = iter {
                let key = String(
                    decoding: UnsafeRawBufferPointer(
                        start: json_object_iter_key(it),
                        count: json_object_iter_key_len(it)), as: UTF8.self)
                object[key] = try convert(json_object_iter_value(it), depth: depth + 1, limit: limit)
                iter = json_object_iter_next(j, it)
            }
            return .object(object)
        case JSON_ARRAY:
            guard depth <= limit else { throw DecodeError.tooDeep(limit: limit) }
            let n = json_array_size(j)
            var items: [JSONValue] = []
            items.reserveCapacity(n)
            for i in 0..<n { items.append(try convert(json_array_get(j, i), depth: depth + 1, limit: limit)) }
            return .array(items)
        case JSON_STRING:
            return .string(
                String(
                    decoding: UnsafeRawBufferPointer(
                        start: json_string_value(j),
                        count: json_string_length(j)), as: UTF8.self))
        case JSON_INTEGER: return .int(Int64(json_integer_value(j)))
        case JSON_REAL: return .double(json_real_value(j))
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        default: return .null
        }
    }

    /// Compact single-line UTF-8 text for `value`, without a trailing newline.
    public static func encode(_ value: JSONValue) -> [UInt8] { encode(value, flags: encodeFlags) }

    /// Multi-line UTF-8 text indented by two spaces (documents and files people read, such as `openrpc.json`),
    /// without a trailing newline.
    public static func encodePretty(_ value: JSONValue) -> [UInt8] { encode(value, flags: prettyFlags) }

    /// Compact text for a file the engine writes (checkpoint headers and metadata): keys sorted, as
    /// Foundation's `.sortedKeys` wrote them, and doubles with 17 significant digits so that every value reads
    /// back bit for bit (the protocol's 9 digits are enough only for float32).
    public static func encodeForFile(_ value: JSONValue) -> String {
        String(decoding: encode(value, flags: fileFlags), as: UTF8.self)
    }

    /// Nesting a file may have: deeper than a protocol line (a Keras model config nests its layers), within
    /// jansson's own limit of 2048.
    public static let fileMaximumDepth = 512

    public static func encodePrettyString(_ value: JSONValue) -> String {
        String(decoding: encodePretty(value), as: UTF8.self)
    }

    private static func encode(_ value: JSONValue, flags: Int) -> [UInt8] {
        let root = make(value)
        defer { json_decref(root) }
        // json_dumpb with a null buffer returns the size needed; then write into an array of that size.
        let size = json_dumpb(root, nil, 0, flags)
        var out = [UInt8](repeating: 0, count: size)
        let written = out.withUnsafeMutableBytes { json_dumpb(root, $0.baseAddress, size, flags) }
        precondition(written == size, "jansson wrote \(written) of \(size) bytes")
        return out
    }

    public static func encodeString(_ value: JSONValue) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    private static func make(_ value: JSONValue) -> UnsafeMutablePointer<json_t> {
        switch value {
        case .null: return json_null()
        case .bool(let b): return b ? json_true() : json_false()
        case .int(let i): return json_integer(json_int_t(i))
        case .double(let d): return d.isFinite ? json_real(d) : json_null()
        case .string(let s):
            var s = s
            return s.withUTF8 {
                json_stringn_nocheck(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
            }
                ?? json_null()
        case .array(let items):
            let a = json_array()!
            for item in items { json_array_append_new(a, make(item)) }
            return a
        case .object(let object):
            let o = json_object()!
            for (key, item) in object {
                var k = key
                k.withUTF8 { buf in
                    _ = json_object_setn_new_nocheck(
                        o, UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self),
                        buf.count, make(item))
                }
            }
            return o
        }
    }
}
