/// The result schemas of TrainMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension TrainMethods {
    static let trainConfigureResult = SchemaFragment(
        #"""
        {
          "name": "config",
          "schema": {
            "$ref": "#/components/schemas/TrainingConfig"
          }
        }
        """#)

    static let trainStepResult = SchemaFragment(
        #"""
        {
          "name": "step",
          "schema": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "step",
              "loss",
              "learning_rate",
              "metrics"
            ],
            "properties": {
              "step": {
                "type": "integer"
              },
              "loss": {
                "type": "number"
              },
              "learning_rate": {
                "type": "number"
              },
              "metrics": {
                "type": "object",
                "additionalProperties": {
                  "type": "number"
                }
              },
              "epoch": {
                "type": "integer"
              },
              "batch_in_epoch": {
                "type": "integer"
              }
            }
          }
        }
        """#)

    static let trainFitResult = SchemaFragment(
        #"""
        {
          "name": "fit",
          "schema": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "history",
              "stopped_early",
              "cancelled",
              "epoch",
              "batch_in_epoch",
              "step",
              "best"
            ],
            "properties": {
              "history": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/EpochRecord"
                }
              },
              "stopped_early": {
                "type": "boolean"
              },
              "cancelled": {
                "type": "boolean"
              },
              "epoch": {
                "type": "integer"
              },
              "batch_in_epoch": {
                "type": "integer"
              },
              "step": {
                "type": "integer"
              },
              "best": {
                "anyOf": [
                  {
                    "type": "null"
                  },
                  {
                    "type": "object",
                    "properties": {
                      "epoch": {
                        "type": "integer"
                      },
                      "monitor": {
                        "type": "string"
                      },
                      "value": {
                        "type": "number"
                      }
                    },
                    "required": [
                      "monitor",
                      "value"
                    ],
                    "additionalProperties": false
                  }
                ]
              }
            }
          }
        }
        """#)
}
