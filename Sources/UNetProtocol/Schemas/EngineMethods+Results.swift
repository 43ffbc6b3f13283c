/// The result schemas of EngineMethods' methods, as declared JSON Schema fragments: what each handler returns, which
/// `openrpc.json` publishes and the protocol tests validate every response against. Kept next to the methods as
/// JSON text because result objects are too irregular for the typed parameter kinds.
extension EngineMethods {
    static let engineHelloResult = SchemaFragment(
        #"""
        {
          "name": "hello",
          "schema": {
            "type": "object",
            "properties": {
              "name": {
                "const": "unet-engine"
              },
              "version": {
                "type": "string"
              },
              "protocol_version": {
                "type": "string"
              },
              "methods": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "architectures": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              },
              "threads": {
                "type": "integer",
                "minimum": 1
              },
              "limits": {
                "$ref": "#/components/schemas/Limits"
              },
              "blas": {
                "$ref": "#/components/schemas/BLAS"
              },
              "simd": {
                "$ref": "#/components/schemas/SIMD"
              }
            },
            "required": [
              "name",
              "version",
              "protocol_version",
              "methods",
              "architectures",
              "threads",
              "limits",
              "blas",
              "simd"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let engineStatusResult = SchemaFragment(
        #"""
        {
          "name": "status",
          "schema": {
            "type": "object",
            "properties": {
              "busy": {
                "type": "boolean"
              },
              "current": {
                "oneOf": [
                  {
                    "type": "null"
                  },
                  {
                    "type": "object",
                    "properties": {
                      "id": {
                        "type": [
                          "integer",
                          "string",
                          "null"
                        ]
                      },
                      "method": {
                        "type": "string"
                      },
                      "progress": {
                        "type": [
                          "object",
                          "null"
                        ]
                      }
                    },
                    "required": [
                      "id",
                      "method",
                      "progress"
                    ],
                    "additionalProperties": false
                  }
                ]
              },
              "queue": {
                "type": "integer",
                "minimum": 0
              },
              "queued": {
                "type": "array",
                "items": {
                  "type": "object",
                  "properties": {
                    "id": {
                      "type": [
                        "integer",
                        "string",
                        "null"
                      ]
                    },
                    "method": {
                      "type": "string"
                    }
                  },
                  "required": [
                    "id",
                    "method"
                  ],
                  "additionalProperties": false
                }
              },
              "memory_bytes": {
                "type": "integer",
                "minimum": 0
              },
              "uptime_s": {
                "type": "number",
                "minimum": 0
              }
            },
            "required": [
              "busy",
              "current",
              "queue",
              "memory_bytes",
              "uptime_s"
            ],
            "additionalProperties": false
          }
        }
        """#)

    static let engineShutdownResult = SchemaFragment(
        #"""
        {
          "name": "empty",
          "schema": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": false
          }
        }
        """#)

    static let cancelResult = SchemaFragment(
        #"""
        {
          "name": "empty",
          "schema": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": false
          }
        }
        """#)

    static let rpcDiscoverResult = SchemaFragment(
        #"""
        {
          "name": "openrpc",
          "schema": {
            "type": "object",
            "required": ["openrpc", "info", "methods", "components"]
          }
        }
        """#)
}
