/// The result schemas of ModelMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension ModelMethods {
    static let modelCreateResult = SchemaFragment(
        #"""
        {
          "name": "summary",
          "schema": {
            "$ref": "#/components/schemas/ModelSummary"
          }
        }
        """#)

    static let modelArchitecturesResult = SchemaFragment(
        #"""
        {
          "name": "architectures",
          "schema": {
            "type": "object",
            "properties": {
              "architectures": {
                "type": "array",
                "items": {
                  "type": "object",
                  "properties": {
                    "name": {
                      "type": "string"
                    },
                    "description": {
                      "type": "string"
                    },
                    "parameters": {
                      "type": "array",
                      "items": {
                        "type": "object",
                        "properties": {
                          "name": {
                            "type": "string"
                          },
                          "type": {
                            "enum": [
                              "integer",
                              "number",
                              "boolean",
                              "string",
                              "array"
                            ]
                          },
                          "default": {},
                          "minimum": {
                            "type": "number"
                          },
                          "maximum": {
                            "type": "number"
                          },
                          "exclusive_maximum": {
                            "type": "number"
                          },
                          "items": {
                            "type": "integer",
                            "description": "an array's length"
                          },
                          "choices": {
                            "type": "array",
                            "items": {
                              "type": "string"
                            }
                          },
                          "description": {
                            "type": "string"
                          }
                        },
                        "required": [
                          "name",
                          "type",
                          "default",
                          "description"
                        ],
                        "additionalProperties": false
                      }
                    }
                  },
                  "required": [
                    "name",
                    "description",
                    "parameters"
                  ],
                  "additionalProperties": false
                }
              }
            },
            "required": [
              "architectures"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let modelSummaryResult = SchemaFragment(
        #"""
        {
          "name": "summary",
          "schema": {
            "$ref": "#/components/schemas/ModelSummary"
          }
        }
        """#)

    static let modelSaveResult = SchemaFragment(
        #"""
        {
          "name": "saved",
          "schema": {
            "type": "object",
            "properties": {
              "path": {
                "type": "string"
              },
              "bytes": {
                "type": "integer",
                "minimum": 0
              }
            },
            "required": [
              "path",
              "bytes"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let modelLoadResult = SchemaFragment(
        #"""
        {
          "name": "summary",
          "schema": {
            "$ref": "#/components/schemas/ModelSummary"
          }
        }
        """#)
}
