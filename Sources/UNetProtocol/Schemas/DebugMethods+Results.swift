/// The result schemas of DebugMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension DebugMethods {
    static let debugSleepResult = SchemaFragment(
        #"""
        {
          "name": "slept",
          "schema": {
            "type": "object",
            "properties": {
              "slept_s": {
                "type": "number"
              }
            },
            "required": [
              "slept_s"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let debugRanksResult = SchemaFragment(
        #"""
        {
          "name": "ranks",
          "schema": {
            "type": "object",
            "properties": {
              "ranks": {
                "type": "array",
                "items": {
                  "type": "object",
                  "properties": {
                    "rank": {
                      "type": "integer",
                      "minimum": 0
                    },
                    "pid": {
                      "type": "integer"
                    },
                    "weights_digest": {
                      "type": "string"
                    },
                    "allreduce_s": {
                      "type": "number",
                      "minimum": 0
                    }
                  },
                  "required": [
                    "rank",
                    "pid",
                    "weights_digest",
                    "allreduce_s"
                  ],
                  "additionalProperties": false
                }
              }
            },
            "required": [
              "ranks"
            ],
            "additionalProperties": false
          }
        }
        """#)
}
