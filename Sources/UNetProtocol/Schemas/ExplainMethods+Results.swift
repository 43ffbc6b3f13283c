/// The result schemas of ExplainMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension ExplainMethods {
    static let explainResult = SchemaFragment(
        #"""
        {
          "name": "explanations",
          "schema": {
            "type": "object",
            "properties": {
              "explanations": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Explanation"
                }
              }
            },
            "required": [
              "explanations"
            ],
            "additionalProperties": false
          }
        }
        """#)
}
