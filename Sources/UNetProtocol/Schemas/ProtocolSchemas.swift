/// The shared schemas of `openrpc.json` (`#/components/schemas/...`): the image forms, nested parameter objects
/// (`Harmonize`, `Postprocess`, `LRSchedule`, `Window`) and result pieces that several methods use.
enum ProtocolSchemas {
    static let components = SchemaFragment(
        #"""
        {
          "RequestId": {
            "type": [
              "integer",
              "string"
            ]
          },
          "FilePath": {
            "type": "string",
            "minLength": 1,
            "pattern": "^[^\\u0000]*$",
            "description": "a file path: non-empty, no NUL (see PROTOCOL.md, Paths)"
          },
          "Image": {
            "description": "One image: exactly one of path (JPEG, PNG or DICOM, by signature), jpeg, png, dicom (base64 of the file) or a raw array.",
            "oneOf": [
              {
                "type": "object",
                "properties": {
                  "path": {
                    "type": "string",
                    "minLength": 1,
                    "pattern": "^[^\\u0000]*$",
                    "description": "a file path: non-empty, no NUL (see PROTOCOL.md, Paths)"
                  }
                },
                "required": [
                  "path"
                ],
                "additionalProperties": false
              },
              {
                "type": "object",
                "properties": {
                  "jpeg": {
                    "type": "string"
                  }
                },
                "required": [
                  "jpeg"
                ],
                "additionalProperties": false
              },
              {
                "type": "object",
                "properties": {
                  "png": {
                    "type": "string"
                  }
                },
                "required": [
                  "png"
                ],
                "additionalProperties": false
              },
              {
                "type": "object",
                "properties": {
                  "dicom": {
                    "type": "string",
                    "description": "base64 of a DICOM Part 10 file"
                  }
                },
                "required": [
                  "dicom"
                ],
                "additionalProperties": false
              },
              {
                "type": "object",
                "properties": {
                  "array": {
                    "$ref": "#/components/schemas/RawArray"
                  }
                },
                "required": [
                  "array"
                ],
                "additionalProperties": false
              }
            ]
          },
          "RawArray": {
            "type": "object",
            "properties": {
              "dtype": {
                "enum": [
                  "uint8",
                  "uint16",
                  "float32"
                ],
                "description": "uint16 only for images (deep samples, windowed like a 16-bit PNG); masks take uint8 or float32"
              },
              "shape": {
                "type": "array",
                "items": {
                  "type": "integer",
                  "minimum": 1
                },
                "minItems": 2,
                "maxItems": 3
              },
              "data": {
                "type": "string",
                "description": "base64 of the little-endian values, planar (C, H, W), row-major"
              }
            },
            "required": [
              "dtype",
              "shape",
              "data"
            ],
            "additionalProperties": false
          },
          "Layer": {
            "type": "object",
            "properties": {
              "name": {
                "type": "string"
              },
              "type": {
                "type": "string"
              },
              "output_shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                }
              },
              "params": {
                "type": "integer",
                "minimum": 0
              }
            },
            "required": [
              "name",
              "type",
              "output_shape",
              "params"
            ],
            "additionalProperties": false
          },
          "ModelConfig": {
            "type": "object",
            "properties": {
              "architecture": {
                "type": "string"
              },
              "input_shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                },
                "minItems": 3,
                "maxItems": 3
              },
              "seed": {
                "type": "integer",
                "minimum": 0
              }
            },
            "required": [
              "architecture",
              "input_shape",
              "seed"
            ],
            "additionalProperties": {
              "type": [
                "integer",
                "number",
                "boolean",
                "string"
              ]
            },
            "description": "architecture, input_shape and seed, then every parameter the architecture declares (model.architectures), defaults filled in"
          },
          "ModelSummary": {
            "type": "object",
            "properties": {
              "architecture": {
                "type": "string",
                "description": "one of model.architectures' names"
              },
              "input_shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                },
                "minItems": 3,
                "maxItems": 3
              },
              "layers": {
                "type": "array",
                "items": {
                  "$ref": "#/components/schemas/Layer"
                }
              },
              "total_params": {
                "type": "integer",
                "minimum": 0
              },
              "trainable_params": {
                "type": "integer",
                "minimum": 0
              },
              "config": {
                "$ref": "#/components/schemas/ModelConfig"
              },
              "outputs": {
                "type": "array",
                "description": "the model's named outputs (heads), in network order",
                "items": {
                  "type": "object",
                  "properties": {
                    "name": {
                      "type": "string",
                      "description": "\"mask\", \"class\", or \"mask.1\", \"mask.2\", ... for deep-supervision masks"
                    },
                    "kind": {
                      "enum": [
                        "mask",
                        "class"
                      ]
                    },
                    "channels": {
                      "type": "integer",
                      "minimum": 1,
                      "description": "mask channels or class units"
                    },
                    "activation": {
                      "enum": [
                        "sigmoid",
                        "softmax"
                      ]
                    }
                  },
                  "required": [
                    "name",
                    "kind",
                    "channels",
                    "activation"
                  ],
                  "additionalProperties": false
                }
              }
            },
            "required": [
              "architecture",
              "input_shape",
              "layers",
              "total_params",
              "trainable_params",
              "outputs"
            ],
            "additionalProperties": true
          },
          "Prediction": {
            "type": "object",
            "properties": {
              "probabilities": {
                "type": "array",
                "items": {
                  "type": "number"
                },
                "minItems": 1
              },
              "label": {
                "type": "string"
              },
              "class_index": {
                "type": "integer",
                "minimum": 0
              },
              "dicom": {
                "$ref": "#/components/schemas/DICOMTags"
              }
            },
            "required": [
              "probabilities",
              "label",
              "class_index"
            ],
            "additionalProperties": false
          },
          "MaskArray": {
            "description": "A uint8 raw array of a mask or map, [H, W], base64 data.",
            "type": "object",
            "properties": {
              "dtype": {
                "const": "uint8"
              },
              "shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                },
                "minItems": 2,
                "maxItems": 2
              },
              "data": {
                "type": "string"
              }
            },
            "required": [
              "dtype",
              "shape",
              "data"
            ],
            "additionalProperties": false
          },
          "ProbabilityMap": {
            "description": "encoding probabilities: a float32 raw array, shape [H, W] for one channel, [K, H, W] for K; encoding probabilities_json: nested JSON numbers, [H][W] or [K][H][W]",
            "oneOf": [
              {
                "type": "object",
                "properties": {
                  "dtype": {
                    "const": "float32"
                  },
                  "shape": {
                    "type": "array",
                    "items": {
                      "type": "integer"
                    },
                    "minItems": 2,
                    "maxItems": 3
                  },
                  "data": {
                    "type": "string"
                  }
                },
                "required": [
                  "dtype",
                  "shape",
                  "data"
                ],
                "additionalProperties": false
              },
              {
                "type": "array",
                "items": {
                  "type": "array",
                  "items": {
                    "anyOf": [
                      {
                        "type": "number"
                      },
                      {
                        "type": "array",
                        "items": {
                          "type": "number"
                        }
                      }
                    ]
                  }
                }
              }
            ]
          },
          "PictureForm": {
            "description": "Exactly one form of a returned picture: png, array, probabilities or path (the requested encoding).",
            "oneOf": [
              {
                "required": [
                  "png"
                ]
              },
              {
                "required": [
                  "array"
                ]
              },
              {
                "required": [
                  "probabilities"
                ]
              },
              {
                "required": [
                  "path"
                ]
              }
            ]
          },
          "Mask": {
            "type": "object",
            "properties": {
              "shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                },
                "minItems": 2,
                "maxItems": 2
              },
              "foreground_fraction": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "png": {
                "type": "string"
              },
              "array": {
                "$ref": "#/components/schemas/MaskArray"
              },
              "probabilities": {
                "$ref": "#/components/schemas/ProbabilityMap"
              },
              "path": {
                "type": "string"
              },
              "dicom": {
                "$ref": "#/components/schemas/DICOMTags"
              }
            },
            "required": [
              "shape",
              "foreground_fraction"
            ],
            "additionalProperties": false,
            "allOf": [
              {
                "$ref": "#/components/schemas/PictureForm"
              }
            ]
          },
          "Limits": {
            "type": "object",
            "properties": {
              "max_line_bytes": {
                "type": "integer"
              },
              "max_depth": {
                "type": "integer"
              },
              "max_queue": {
                "type": "integer"
              },
              "max_images": {
                "type": "integer"
              },
              "max_image_side": {
                "type": "integer"
              },
              "max_image_elements": {
                "type": "integer"
              },
              "max_model_bytes": {
                "type": "integer",
                "description": "largest model estimate model.create and model.load build (--max-model-bytes)"
              }
            },
            "required": [
              "max_line_bytes",
              "max_depth",
              "max_queue"
            ],
            "additionalProperties": true
          },
          "BLAS": {
            "type": "object",
            "description": "The BLAS library and the OpenBLAS kernels (core) it runs. At start-up the engine compares the core OpenBLAS chose with the CPU's features and restarts itself once with OPENBLAS_CORETYPE set when OpenBLAS fell back to an older core than the CPU runs.",
            "properties": {
              "library": {
                "type": "string",
                "description": "e.g. \"OpenBLAS\""
              },
              "version": {
                "type": "string",
                "description": "e.g. \"0.3.21\""
              },
              "config": {
                "type": "string",
                "description": "openblas_get_config()"
              },
              "core": {
                "type": "string",
                "description": "the kernels that run (openblas_get_corename()), e.g. \"Zen\""
              },
              "chosen_by": {
                "enum": [
                  "openblas",
                  "OPENBLAS_CORETYPE",
                  "override",
                  "engine"
                ],
                "description": "openblas: its own detection, kept; OPENBLAS_CORETYPE: the environment as inherited; override: --blas-core or UNET_BLAS_CORE; engine: the engine corrected OpenBLAS's fallback"
              },
              "corrected": {
                "type": "boolean",
                "description": "chosen_by is engine"
              },
              "restarted_from": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "the core OpenBLAS ran before the engine restarted itself to change it; null without a restart"
              },
              "best_core": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "the best core for this CPU among the ones this build offers; null when none applies (no AVX2 and FMA, another vendor, a build with one core)"
              },
              "cpu": {
                "type": "object",
                "properties": {
                  "vendor": {
                    "enum": [
                      "Intel",
                      "AMD",
                      "Hygon",
                      "other"
                    ]
                  },
                  "features": {
                    "type": "array",
                    "items": {
                      "enum": [
                        "avx",
                        "avx2",
                        "fma",
                        "avx512f",
                        "avx512bw",
                        "avx512dq",
                        "avx512vl",
                        "avx512_bf16"
                      ]
                    }
                  }
                },
                "required": [
                  "vendor",
                  "features"
                ],
                "additionalProperties": false
              }
            },
            "required": [
              "library",
              "version",
              "config",
              "core",
              "chosen_by",
              "corrected",
              "restarted_from",
              "best_core",
              "cpu"
            ],
            "additionalProperties": false
          },
          "SIMD": {
            "type": "object",
            "description": "The vector kernels of the memory-bound layers (depthwise convolution, SiLU, channel gating): portable Swift, or the CKernels copies for AVX2 + FMA or AVX-512, chosen from cpuid at start-up. UNET_SIMD (portable, avx2, avx512) can lower the level, never raise it above the CPU's.",
            "properties": {
              "level": {
                "enum": [
                  "portable",
                  "avx2",
                  "avx512"
                ],
                "description": "the kernels that run"
              },
              "best": {
                "enum": [
                  "portable",
                  "avx2",
                  "avx512"
                ],
                "description": "the highest level this CPU runs"
              },
              "available": {
                "type": "array",
                "items": {
                  "enum": [
                    "portable",
                    "avx2",
                    "avx512"
                  ]
                },
                "description": "every level this CPU runs, lowest first"
              },
              "forced_by": {
                "type": [
                  "string",
                  "null"
                ],
                "description": "\"UNET_SIMD\" when that variable lowered level below best; null when the best runs"
              }
            },
            "required": [
              "level",
              "best",
              "available",
              "forced_by"
            ],
            "additionalProperties": false
          },
          "Error": {
            "type": "object",
            "properties": {
              "code": {
                "type": "integer"
              },
              "message": {
                "type": "string"
              },
              "data": {}
            },
            "required": [
              "code",
              "message"
            ],
            "additionalProperties": false
          },
          "Response": {
            "type": "object",
            "properties": {
              "jsonrpc": {
                "const": "2.0"
              },
              "id": {
                "type": [
                  "integer",
                  "string",
                  "null"
                ]
              },
              "result": {},
              "error": {
                "$ref": "#/components/schemas/Error"
              }
            },
            "required": [
              "jsonrpc",
              "id"
            ],
            "additionalProperties": false,
            "oneOf": [
              {
                "required": [
                  "result"
                ]
              },
              {
                "required": [
                  "error"
                ]
              }
            ]
          },
          "ProgressNotification": {
            "type": "object",
            "properties": {
              "jsonrpc": {
                "const": "2.0"
              },
              "method": {
                "const": "progress"
              },
              "params": {
                "type": "object",
                "properties": {
                  "id": {
                    "$ref": "#/components/schemas/RequestId"
                  }
                },
                "required": [
                  "id"
                ]
              }
            },
            "required": [
              "jsonrpc",
              "method",
              "params"
            ],
            "additionalProperties": false
          },
          "LRSchedule": {
            "type": "object",
            "description": "A learning-rate schedule (PROTOCOL.md, train.configure): the formulas of torch.optim.lr_scheduler and Keras' schedules; t counts optimizer steps (by step) or finished epochs (by epoch).",
            "required": [
              "type"
            ],
            "additionalProperties": false,
            "properties": {
              "type": {
                "enum": [
                  "constant",
                  "step",
                  "exponential",
                  "cosine",
                  "one_cycle",
                  "polynomial"
                ]
              },
              "by": {
                "enum": [
                  "step",
                  "epoch"
                ]
              },
              "step_size": {
                "type": "integer",
                "minimum": 1
              },
              "gamma": {
                "type": "number",
                "minimum": 0
              },
              "decay_steps": {
                "type": "integer",
                "minimum": 1
              },
              "decay_rate": {
                "type": "number",
                "exclusiveMinimum": 0
              },
              "staircase": {
                "type": "boolean"
              },
              "alpha": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "warmup_steps": {
                "type": "integer",
                "minimum": 0
              },
              "warmup_start_factor": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "total_steps": {
                "type": "integer",
                "minimum": 2
              },
              "pct_start": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "div_factor": {
                "type": "number",
                "exclusiveMinimum": 0
              },
              "final_div_factor": {
                "type": "number",
                "exclusiveMinimum": 0
              },
              "anneal": {
                "enum": [
                  "cos",
                  "linear"
                ]
              },
              "power": {
                "type": "number",
                "exclusiveMinimum": 0
              },
              "end_learning_rate": {
                "type": "number",
                "minimum": 0
              }
            }
          },
          "TrainingConfig": {
            "type": "object",
            "properties": {
              "optimizer": {
                "enum": [
                  "adam",
                  "adamw",
                  "sgd"
                ]
              },
              "learning_rate": {
                "type": "number"
              },
              "weight_decay": {
                "type": "number"
              },
              "momentum": {
                "type": "number"
              },
              "nesterov": {
                "type": "boolean"
              },
              "loss": {
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
                    "additionalProperties": {
                      "type": "object",
                      "properties": {
                        "name": {
                          "enum": [
                            "auto",
                            "bce",
                            "ce",
                            "dice",
                            "bce+dice"
                          ]
                        },
                        "weight": {
                          "type": "number",
                          "minimum": 0
                        }
                      },
                      "required": [
                        "name",
                        "weight"
                      ],
                      "additionalProperties": false
                    }
                  }
                ]
              },
              "class_weights": {
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
              },
              "batch_size": {
                "type": "integer",
                "minimum": 1
              },
              "seed": {
                "type": "integer",
                "minimum": 0
              },
              "augment": {
                "type": "boolean"
              },
              "lr_schedule": {
                "anyOf": [
                  {
                    "$ref": "#/components/schemas/LRSchedule"
                  },
                  {
                    "type": "null"
                  }
                ]
              },
              "sync_batch_norm": {
                "type": "boolean"
              }
            },
            "required": [
              "optimizer",
              "learning_rate",
              "weight_decay",
              "momentum",
              "nesterov",
              "loss",
              "class_weights",
              "batch_size",
              "seed",
              "augment",
              "sync_batch_norm"
            ],
            "additionalProperties": false
          },
          "EpochRecord": {
            "type": "object",
            "properties": {
              "epoch": {
                "type": "integer"
              },
              "learning_rate": {
                "type": "number"
              },
              "seconds": {
                "type": "number"
              }
            },
            "required": [
              "epoch",
              "learning_rate",
              "seconds"
            ],
            "additionalProperties": {
              "type": "number"
            },
            "description": "one finished epoch: training metrics (loss, accuracy or dice) and validation ones (val_ prefix)"
          },
          "Window": {
            "description": "How samples deeper than 8 bits (16-bit PNG, uint16 arrays, DICOM) map onto 0...255: [center, width] (DICOM's linear VOI function, in the file's units), \"pLOW-pHIGH\" (the image's own percentiles to 0 and 255) or \"minmax\"",
            "oneOf": [
              {
                "type": "array",
                "items": {
                  "type": "number"
                },
                "minItems": 2,
                "maxItems": 2
              },
              {
                "type": "string",
                "pattern": "^(minmax|p[0-9.]+-p[0-9.]+)$"
              }
            ]
          },
          "DICOMTags": {
            "description": "The tags of a DICOM image, reported with its result so a host can join it back (DICOM keywords; absent tags are null). PatientID only with include_patient_id.",
            "type": "object",
            "properties": {
              "StudyInstanceUID": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "SOPInstanceUID": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "PhotometricInterpretation": {
                "type": "string"
              },
              "PixelSpacing": {
                "type": [
                  "array",
                  "null"
                ],
                "items": {
                  "type": "number"
                }
              },
              "Rows": {
                "type": "integer"
              },
              "Columns": {
                "type": "integer"
              },
              "BitsStored": {
                "type": "integer"
              },
              "ViewPosition": {
                "type": [
                  "string",
                  "null"
                ]
              },
              "NumberOfFrames": {
                "type": "integer",
                "minimum": 1
              },
              "TransferSyntaxUID": {
                "type": "string"
              },
              "PatientID": {
                "type": "string"
              }
            },
            "required": [
              "StudyInstanceUID",
              "SOPInstanceUID",
              "PhotometricInterpretation",
              "PixelSpacing",
              "Rows",
              "Columns",
              "BitsStored",
              "ViewPosition",
              "NumberOfFrames",
              "TransferSyntaxUID"
            ],
            "additionalProperties": false
          },
          "Harmonize": {
            "type": "object",
            "description": "preprocessing against scanner differences, in this order: crop_borders (uniform rows and columns at the edges, each within border_tolerance on the 0...255 scale, at most 35% of a side; the mask is computed on the rest and put back, the bands background), resize, percentiles [low, high] mapped to 0 and 255 (numpy's linear percentiles), then equalize (scikit-image's equalize_hist) or clahe (OpenCV's createCLAHE: clip_limit a multiple of the mean bin height, 0 no clipping; tile_grid [rows, columns])",
            "properties": {
              "crop_borders": {
                "type": "boolean"
              },
              "border_tolerance": {
                "type": "number",
                "minimum": 0,
                "maximum": 255
              },
              "percentiles": {
                "type": "array",
                "items": {
                  "type": "number",
                  "minimum": 0,
                  "maximum": 100
                },
                "minItems": 2,
                "maxItems": 2
              },
              "equalize": {
                "type": "boolean"
              },
              "clahe": {
                "type": "object",
                "properties": {
                  "clip_limit": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1000
                  },
                  "tile_grid": {
                    "type": "array",
                    "items": {
                      "type": "integer",
                      "minimum": 1,
                      "maximum": 64
                    },
                    "minItems": 2,
                    "maxItems": 2
                  }
                },
                "additionalProperties": false
              }
            },
            "additionalProperties": false
          },
          "Postprocess": {
            "type": "object",
            "description": "clean-up of one-channel label masks (MONAI's KeepLargestConnectedComponent and FillHoles), in this order: opening (binary opening by a (2r+1) square, outside the image background, as scipy.ndimage.binary_opening), keep_largest (the k largest connected components, ties to the earlier in raster order; connectivity 4 or 8, default 8), fill_holes (background not 4-connected to the border becomes foreground, as scipy.ndimage.binary_fill_holes)",
            "properties": {
              "opening": {
                "type": "integer",
                "minimum": 0,
                "maximum": 32
              },
              "keep_largest": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000
              },
              "fill_holes": {
                "type": "boolean"
              },
              "connectivity": {
                "enum": [
                  4,
                  8
                ]
              }
            },
            "additionalProperties": false
          },
          "Explanation": {
            "type": "object",
            "properties": {
              "method": {
                "enum": [
                  "gradcam",
                  "gradcam++",
                  "saliency",
                  "smoothgrad",
                  "integrated_gradients",
                  "class_map"
                ]
              },
              "target": {
                "type": "integer",
                "minimum": 0
              },
              "label": {
                "type": "string"
              },
              "score": {
                "type": "number",
                "description": "the target's class logit the map explains (class_map without a class head: the map's mean)"
              },
              "layer": {
                "type": "string",
                "description": "the node read: gradcam's layer, class_map's logit map"
              },
              "shape": {
                "type": "array",
                "items": {
                  "type": "integer"
                },
                "minItems": 2,
                "maxItems": 2
              },
              "baseline_score": {
                "type": "number"
              },
              "attribution_sum": {
                "type": "number",
                "description": "integrated_gradients: the signed sum of the attributions, which completeness makes score - baseline_score"
              },
              "png": {
                "type": "string"
              },
              "array": {
                "$ref": "#/components/schemas/MaskArray"
              },
              "probabilities": {
                "$ref": "#/components/schemas/ProbabilityMap"
              },
              "path": {
                "type": "string"
              },
              "mask": {
                "oneOf": [
                  {
                    "type": "string"
                  },
                  {
                    "$ref": "#/components/schemas/MaskArray"
                  }
                ]
              },
              "mask_fraction": {
                "type": "number",
                "minimum": 0,
                "maximum": 1
              },
              "overlay": {
                "type": "string"
              },
              "overlay_path": {
                "type": "string"
              },
              "dicom": {
                "$ref": "#/components/schemas/DICOMTags"
              }
            },
            "required": [
              "method",
              "target",
              "label",
              "score",
              "shape"
            ],
            "additionalProperties": false,
            "allOf": [
              {
                "$ref": "#/components/schemas/PictureForm"
              }
            ]
          }
        }
        """#)

    static let notifications = SchemaFragment(
        #"""
        [
          {
            "name": "progress",
            "schema": {
              "$ref": "#/components/schemas/ProgressNotification"
            }
          }
        ]
        """#)

    static let info = SchemaFragment(
        #"""
        {
          "title": "unet-engine",
          "version": "2.0",
          "description": "JSON-RPC 2.0 over newline-delimited stdin/stdout. See PROTOCOL.md. Params are by name; unknown names are -32602. Engine-to-host notifications are described under x-notifications."
        }
        """#)
}
