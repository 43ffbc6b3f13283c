/// The result schemas of DatasetMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension DatasetMethods {
    static let datasetOpenResult = SchemaFragment(
        #"""
        {
          "name": "opened",
          "schema": {
            "type": "object",
            "required": [
              "name",
              "task",
              "size",
              "classes",
              "counts",
              "input_shape",
              "skipped",
              "validation"
            ],
            "properties": {
              "name": {
                "type": "string"
              },
              "task": {
                "enum": [
                  "classification",
                  "segmentation"
                ]
              },
              "size": {
                "type": "integer"
              },
              "classes": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "counts": {
                "type": "object",
                "additionalProperties": {
                  "type": "integer"
                }
              },
              "input_shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                }
              },
              "skipped": {
                "type": "array",
                "items": {
                  "type": "object",
                  "properties": {
                    "path": {
                      "type": "string"
                    },
                    "error": {
                      "type": "string"
                    }
                  }
                }
              },
              "validation": {
                "anyOf": [
                  {
                    "type": "null"
                  },
                  {
                    "type": "object",
                    "properties": {
                      "name": {
                        "type": "string"
                      },
                      "size": {
                        "type": "integer"
                      },
                      "counts": {
                        "type": "object"
                      }
                    }
                  }
                ]
              }
            }
          }
        }
        """#)

    static let datasetSampleResult = SchemaFragment(
        #"""
        {
          "name": "samples",
          "schema": {
            "type": "object",
            "required": [
              "name",
              "augment",
              "samples"
            ],
            "additionalProperties": false,
            "properties": {
              "name": {
                "type": "string"
              },
              "augment": {
                "type": "boolean"
              },
              "samples": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": [
                    "id",
                    "image"
                  ],
                  "additionalProperties": false,
                  "properties": {
                    "id": {
                      "type": "string"
                    },
                    "image": {
                      "type": "object",
                      "properties": {
                        "array": {
                          "$ref": "#/components/schemas/RawArray"
                        }
                      }
                    },
                    "mask": {
                      "type": "object",
                      "properties": {
                        "array": {
                          "$ref": "#/components/schemas/RawArray"
                        }
                      }
                    },
                    "label": {
                      "type": "integer"
                    },
                    "class": {
                      "type": "string"
                    }
                  }
                }
              }
            }
          }
        }
        """#)

    static let datasetFilesResult = SchemaFragment(
        #"""
        {
          "name": "files",
          "schema": {
            "type": "object",
            "required": [
              "name",
              "total",
              "offset",
              "files",
              "next_offset"
            ],
            "additionalProperties": false,
            "properties": {
              "name": {
                "type": "string"
              },
              "total": {
                "type": "integer"
              },
              "offset": {
                "type": "integer"
              },
              "next_offset": {
                "type": [
                  "integer",
                  "null"
                ]
              },
              "files": {
                "type": "array",
                "items": {
                  "type": "object",
                  "required": [
                    "index",
                    "id",
                    "path",
                    "mask",
                    "label",
                    "class"
                  ],
                  "additionalProperties": false,
                  "properties": {
                    "index": {
                      "type": "integer"
                    },
                    "id": {
                      "type": "string"
                    },
                    "path": {
                      "type": [
                        "string",
                        "null"
                      ]
                    },
                    "mask": {
                      "type": [
                        "string",
                        "null"
                      ]
                    },
                    "label": {
                      "type": [
                        "integer",
                        "null"
                      ]
                    },
                    "class": {
                      "type": [
                        "string",
                        "null"
                      ]
                    }
                  }
                }
              }
            }
          }
        }
        """#)

    static let datasetListResult = SchemaFragment(
        #"""
        {
          "name": "result",
          "schema": {
            "type": "object"
          }
        }
        """#)

    static let datasetCloseResult = SchemaFragment(
        #"""
        {
          "name": "result",
          "schema": {
            "type": "object"
          }
        }
        """#)
}
