/// The schemas of nested parameter objects too irregular for the typed kinds (`Param`): declared here as JSON
/// Schema fragments, each read by its own reader (`AugmentParams`, `LossParam`, the callbacks reader, ...).
enum ParamSchemas {
    /// `dataset.open`'s `phantoms`.
    static let phantoms = SchemaFragment(
        #"""
        {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "count": {
              "type": "integer"
            },
            "size": {
              "type": "array",
              "items": {
                "type": "integer"
              }
            },
            "seed": {
              "type": "integer"
            }
          }
        }
        """#)

    /// `dataset.open`'s `augment`.
    static let augment = SchemaFragment(
        #"""
        {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "rotation": {
              "type": "number",
              "minimum": 0
            },
            "rotation_range": {
              "type": "number",
              "minimum": 0
            },
            "shear": {
              "type": "number",
              "minimum": 0
            },
            "shear_range": {
              "type": "number",
              "minimum": 0
            },
            "zoom": {
              "type": "number",
              "minimum": 0
            },
            "shift": {
              "type": "number",
              "minimum": 0
            },
            "width_shift_range": {
              "type": "number",
              "minimum": 0
            },
            "height_shift_range": {
              "type": "number",
              "minimum": 0
            },
            "brightness": {
              "type": "number",
              "minimum": 0
            },
            "contrast": {
              "type": "number",
              "minimum": 0
            },
            "cval": {
              "type": "number",
              "minimum": 0
            },
            "zoom_range": {
              "anyOf": [
                {
                  "type": "number",
                  "minimum": 0
                },
                {
                  "type": "array",
                  "items": {
                    "type": "number"
                  },
                  "minItems": 2,
                  "maxItems": 2
                }
              ]
            },
            "brightness_range": {
              "type": "array",
              "items": {
                "type": "number"
              },
              "minItems": 2,
              "maxItems": 2
            },
            "horizontal_flip": {
              "type": "boolean"
            },
            "vertical_flip": {
              "type": "boolean"
            },
            "fill_mode": {
              "enum": [
                "nearest",
                "constant",
                "reflect",
                "wrap"
              ]
            },
            "gamma": {
              "type": "array",
              "items": {
                "type": "number",
                "minimum": 0.1,
                "maximum": 10
              },
              "minItems": 2,
              "maxItems": 2,
              "description": "[lo, hi]: 255 * (v / 255)^g, g log-uniform in the range"
            },
            "noise": {
              "type": "number",
              "minimum": 0,
              "maximum": 0.5,
              "description": "Gaussian noise, std uniform in [0, value] * 255"
            },
            "blur": {
              "type": "number",
              "minimum": 0,
              "maximum": 16,
              "description": "Gaussian blur, sigma uniform in [0, value] pixels"
            },
            "letterbox_pad": {
              "type": "number",
              "minimum": 0,
              "maximum": 0.5,
              "description": "half the time, shrink one axis by up to this fraction between black bands (mask background)"
            },
            "elastic": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "alpha": {
                  "type": "number",
                  "minimum": 0,
                  "maximum": 1000
                },
                "sigma": {
                  "type": "number",
                  "minimum": 1,
                  "maximum": 64
                }
              },
              "description": "elastic deformation (Simard 2003): uniform displacements smoothed by a Gaussian of sigma pixels (8), times alpha pixels (30)"
            }
          }
        }
        """#)

    /// `dataset.open`'s `normalization`.
    static let normalization = SchemaFragment(
        #"""
        {
          "type": "object"
        }
        """#)

    /// `train.configure`'s `loss`.
    static let loss = SchemaFragment(
        #"""
        {
          "anyOf": [
            {
              "enum": [
                "auto",
                "bce",
                "ce",
                "dice",
                "bce+dice"
              ],
              "description": "one loss for every head it applies to"
            },
            {
              "type": "object",
              "description": "one loss per head, by name (\"mask\", \"class\", \"mask.1\", ...); heads left out train with \"auto\" and weight 1; a mask.N head without its own entry takes the \"mask\" entry",
              "propertyNames": {
                "pattern": "^(mask|class|mask\\.[1-9][0-9]*)$"
              },
              "additionalProperties": {
                "anyOf": [
                  {
                    "enum": [
                      "auto",
                      "bce",
                      "ce",
                      "dice",
                      "bce+dice"
                    ]
                  },
                  {
                    "type": "object",
                    "properties": {
                      "name": {
                        "enum": [
                          "auto",
                          "bce",
                          "ce",
                          "dice",
                          "bce+dice"
                        ],
                        "default": "auto"
                      },
                      "weight": {
                        "type": "number",
                        "minimum": 0,
                        "default": 1
                      }
                    },
                    "additionalProperties": false
                  }
                ]
              }
            }
          ]
        }
        """#)

    /// `train.configure`'s `class_weights`.
    static let classWeights = SchemaFragment(
        #"""
        {
          "anyOf": [
            {
              "const": "balanced"
            },
            {
              "type": "array",
              "items": {
                "type": "number"
              }
            },
            {
              "type": "null"
            }
          ]
        }
        """#)

    /// `train.configure`'s `lr_schedule`.
    static let lrSchedule = SchemaFragment(
        #"""
        {
          "anyOf": [
            {
              "$ref": "#/components/schemas/LRSchedule"
            },
            {
              "type": "null"
            }
          ]
        }
        """#)

    /// `train.fit`'s callbacks, by name: each one's settings and the names a list entry may give it (Keras' class
    /// names too). `callbacks` builds both forms the parameter takes from this one table.
    static let callbackSettings = SchemaFragment(
        #"""
        {
          "reduce_lr_on_plateau": {
            "aliases": [
              "reduce_lr_on_plateau",
              "ReduceLROnPlateau"
            ],
            "schema": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "monitor": {
                  "type": "string"
                },
                "factor": {
                  "type": "number"
                },
                "patience": {
                  "type": "integer"
                },
                "min_delta": {
                  "type": "number"
                },
                "cooldown": {
                  "type": "integer"
                },
                "min_lr": {
                  "type": "number"
                },
                "mode": {
                  "enum": [
                    "auto",
                    "min",
                    "max"
                  ]
                }
              }
            }
          },
          "early_stopping": {
            "aliases": [
              "early_stopping",
              "EarlyStopping"
            ],
            "schema": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "monitor": {
                  "type": "string"
                },
                "patience": {
                  "type": "integer"
                },
                "min_delta": {
                  "type": "number"
                },
                "mode": {
                  "enum": [
                    "auto",
                    "min",
                    "max"
                  ]
                },
                "restore_best_weights": {
                  "type": "boolean"
                }
              }
            }
          },
          "checkpoint": {
            "aliases": [
              "checkpoint",
              "ModelCheckpoint"
            ],
            "schema": {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "path"
              ],
              "properties": {
                "path": {
                  "$ref": "#/components/schemas/FilePath"
                },
                "monitor": {
                  "type": "string"
                },
                "save_best_only": {
                  "type": "boolean"
                },
                "mode": {
                  "enum": [
                    "auto",
                    "min",
                    "max"
                  ]
                }
              }
            }
          },
          "csv_logger": {
            "aliases": [
              "csv_logger",
              "CSVLogger"
            ],
            "schema": {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "path"
              ],
              "properties": {
                "path": {
                  "$ref": "#/components/schemas/FilePath"
                },
                "separator": {
                  "type": "string",
                  "minLength": 1,
                  "maxLength": 1
                },
                "append": {
                  "type": "boolean"
                }
              }
            }
          },
          "tensorboard": {
            "aliases": [
              "tensorboard",
              "TensorBoard"
            ],
            "schema": {
              "type": "object",
              "additionalProperties": false,
              "required": [
                "log_dir"
              ],
              "properties": {
                "log_dir": {
                  "type": "string",
                  "minLength": 1,
                  "pattern": "^[^\\u0000]*$",
                  "description": "a file path: non-empty, no NUL (see PROTOCOL.md, Paths)"
                }
              }
            }
          }
        }
        """#
    )

    /// `train.fit`'s `callbacks`: an object of settings by callback name, or a list of settings that each name
    /// their callback (`{"name": "EarlyStopping", "patience": 3}`).
    static let callbacks: SchemaFragment = {
        guard let table = callbackSettings.json.objectValue else {
            preconditionFailure("callbackSettings is an object")
        }
        var byName = JSONObject()
        var listed: [JSONValue] = []
        for (name, entry) in table {
            guard let schema = entry["schema"]?.objectValue, let aliases = entry["aliases"],
                var properties = schema["properties"]?.objectValue
            else { preconditionFailure("callbackSettings.\(name) needs schema.properties and aliases") }
            byName[name] = .object(schema)
            var item = schema
            properties["name"] = ["enum": aliases]
            item["properties"] = .object(properties)
            item["required"] = .array(["name"] + (schema["required"]?.arrayValue ?? []))
            listed.append(.object(item))
        }
        let both: JSONValue = [
            "anyOf": [
                ["type": "object", "additionalProperties": false, "properties": .object(byName)],
                ["type": "array", "items": ["anyOf": .array(listed)]],
            ]
        ]
        return SchemaFragment(JSONCodec.encodeString(both))
    }()

    /// `train.step`'s `masks`.
    static let masks = SchemaFragment(
        #"""
        {
          "type": "array",
          "items": {
            "type": "object"
          }
        }
        """#)
}
