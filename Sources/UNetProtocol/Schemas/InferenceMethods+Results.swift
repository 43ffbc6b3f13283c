/// The result schemas of InferenceMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension InferenceMethods {
    static let predictResult = SchemaFragment(
        #"""
        {
          "name": "predictions",
          "schema": {
            "type": "object",
            "properties": {
              "predictions": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Prediction"
                }
              }
            },
            "required": [
              "predictions"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let segmentResult = SchemaFragment(
        #"""
        {
          "name": "masks",
          "schema": {
            "type": "object",
            "properties": {
              "masks": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Mask"
                }
              }
            },
            "required": [
              "masks"
            ],
            "additionalProperties": false
          }
        }
        """#)
}
