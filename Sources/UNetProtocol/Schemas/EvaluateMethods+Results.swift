/// The result schemas of EvaluateMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension EvaluateMethods {
    static let evaluateResult = SchemaFragment(
        #"""
        {
          "name": "evaluation",
          "schema": {
            "type": "object",
            "required": [
              "dataset",
              "count",
              "loss",
              "threshold"
            ],
            "properties": {
              "dataset": {
                "type": "string"
              },
              "count": {
                "type": "integer"
              },
              "loss": {
                "type": "number"
              },
              "threshold": {
                "type": "number"
              },
              "accuracy": {
                "type": "number"
              },
              "precision": {
                "type": "number"
              },
              "recall": {
                "type": "number"
              },
              "specificity": {
                "type": "number"
              },
              "f1": {
                "type": "number"
              },
              "auc": {
                "type": [
                  "number",
                  "null"
                ]
              },
              "pr_auc": {
                "type": "number"
              },
              "confusion_matrix": {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": {
                    "type": "integer"
                  }
                }
              },
              "roc": {
                "type": "object",
                "required": [
                  "fpr",
                  "tpr",
                  "thresholds"
                ],
                "properties": {
                  "fpr": {
                    "type": "array",
                    "items": {
                      "type": [
                        "number",
                        "null"
                      ]
                    }
                  },
                  "tpr": {
                    "type": "array",
                    "items": {
                      "type": [
                        "number",
                        "null"
                      ]
                    }
                  },
                  "thresholds": {
                    "type": "array",
                    "items": {
                      "type": [
                        "number",
                        "null"
                      ]
                    }
                  }
                }
              },
              "youden": {
                "type": "object",
                "properties": {
                  "threshold": {
                    "type": [
                      "number",
                      "null"
                    ]
                  },
                  "j": {
                    "type": [
                      "number",
                      "null"
                    ]
                  }
                }
              },
              "report": {
                "type": "object",
                "additionalProperties": {
                  "anyOf": [
                    {
                      "type": "object",
                      "properties": {
                        "precision": {
                          "type": "number"
                        },
                        "recall": {
                          "type": "number"
                        },
                        "f1": {
                          "type": "number"
                        },
                        "support": {
                          "type": "integer"
                        }
                      },
                      "required": [
                        "precision",
                        "recall",
                        "f1",
                        "support"
                      ],
                      "additionalProperties": false
                    },
                    {
                      "type": "number"
                    }
                  ]
                }
              },
              "dice": {
                "type": "number"
              },
              "iou": {
                "type": "number"
              },
              "pixel_accuracy": {
                "type": "number"
              },
              "pooled_dice": {
                "type": "number"
              },
              "pooled_iou": {
                "type": "number"
              },
              "per_image": {
                "type": "array",
                "items": {
                  "type": "object",
                  "additionalProperties": false,
                  "properties": {
                    "dice": {
                      "type": "number"
                    },
                    "iou": {
                      "type": "number"
                    },
                    "pixel_accuracy": {
                      "type": "number"
                    },
                    "id": {
                      "type": "string"
                    },
                    "label": {
                      "type": "integer"
                    },
                    "class": {
                      "type": "string"
                    },
                    "probabilities": {
                      "type": "array",
                      "items": {
                        "type": "number"
                      }
                    },
                    "predicted": {
                      "type": "integer"
                    }
                  }
                }
              }
            },
            "additionalProperties": false
          }
        }
        """#)
}
