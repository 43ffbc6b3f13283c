/// A JSON Schema (or any JSON) written as text next to the declaration it belongs to: a method's result, or a
/// nested parameter object whose shape is too irregular for the typed parameter kinds (`Param`). The text is a
/// constant of the source; `DeclarationTests` decodes every fragment, so a typo fails a test rather than a host.
public struct SchemaFragment: Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }

    /// The decoded value. A fragment that is not JSON is a programming error, caught by the tests.
    public var json: JSONValue {
        do { return try JSONCodec.decode(text) } catch { preconditionFailure("schema fragment is not JSON: \(error)") }
    }
}
