import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// The architecture registry as the protocol serves it: `model.create`'s validation and errors,
/// `model.architectures`, the `openrpc.json` entries it is the source of, and checkpoints of unknown architectures.
final class ArchitectureRegistryTests: XCTestCase {
    static var openrpc: JSONValue {
        get throws {
            let url = EngineProcess.repositoryRoot.appendingPathComponent("Protocol/openrpc.json")
            return try JSONCodec.decode(String(contentsOf: url, encoding: .utf8))
        }
    }

    static func method(_ name: String) throws -> JSONValue? {
        try openrpc["methods"]?.arrayValue?.first { $0["name"] == .string(name) }
    }

    /// `UNET_WRITE_MODEL_CREATE_SCHEMA=<file>` writes the generated params there, to paste into openrpc.json.
    func testOpenRPCModelCreateParamsAreTheRegistrysDeclaration() throws {
        let generated = ModelMethods.createParamsSchema
        if let path = ProcessInfo.processInfo.environment["UNET_WRITE_MODEL_CREATE_SCHEMA"] {
            try JSONCodec.encodeString(generated).write(toFile: path, atomically: true, encoding: .utf8)
        }
        let committed = try XCTUnwrap(try Self.method("model.create")?["params"])
        XCTAssertEqual(
            committed, generated,
            "openrpc.json's model.create params differ from the registry's; "
                + "regenerate with UNET_WRITE_MODEL_CREATE_SCHEMA")
    }

    /// PROTOCOL.md's table of architecture parameters has a row per declared parameter with its default.
    func testProtocolDocumentsEveryArchitectureParameterWithItsDefault() throws {
        let text = try String(
            contentsOf: EngineProcess.repositoryRoot.appendingPathComponent("Protocol/PROTOCOL.md"),
            encoding: .utf8)
        for spec in ArchitectureRegistry.all {
            for p in spec.parameters {
                let shown: String
                switch p.defaultValue {
                case .number(let d) where d.rounded() == d: shown = String(Int(d))
                case .string(let s): shown = "\"\(s)\""
                default: shown = JSONCodec.encodeString(p.defaultValue.json)
                }
                let row = "| \(spec.name) | `\(p.name)` | \(shown) |"
                XCTAssertTrue(text.contains(row), "PROTOCOL.md lacks the row \(row)")
            }
        }
    }

    /// The list comes from the server's method table, not from a literal.
    func testEveryServedMethodHasAnOpenRPCEntry() throws {
        let h = Harness()
        let served = try XCTUnwrap(h.result("engine.hello")?["methods"]?.arrayValue).compactMap(\.stringValue)
        h.finish()
        XCTAssertEqual(
            Set(served),
            Set(
                MethodTable.methods(includeDebug: true).map(\.name)
                    .filter { !OpenRPCDocument.isReserved($0) }))
        let documented = Set(
            try XCTUnwrap(try Self.openrpc["methods"]?.arrayValue).compactMap { $0["name"]?.stringValue })
        XCTAssertEqual(Set(served).subtracting(documented), [], "served but missing from openrpc.json")
    }

    /// A name two architectures declare means one thing; `classification_head` alone differs in form (unet's
    /// class count, eff-unet's head object), and openrpc.json then offers both schemas (`anyOf`).
    func testParametersSharedByArchitecturesAgreeOnTheirType() throws {
        let differing: Set<String> = ["classification_head"]
        var seen: [String: ParameterSpec] = [:]
        for spec in ArchitectureRegistry.all {
            for p in spec.parameters {
                if let other = seen[p.name], !differing.contains(p.name) {
                    XCTAssertEqual(p.typeSchema, other.typeSchema, p.name)
                }
                seen[p.name] = p
            }
        }
        let rendered = try XCTUnwrap(
            ModelMethods.createParamsSchema.arrayValue?.first { $0["name"] == "classification_head" })
        let alternatives = try XCTUnwrap(rendered["schema"]?["anyOf"]?.arrayValue)
        XCTAssertEqual(
            alternatives,
            [
                .object(try XCTUnwrap(UNetBuilder.spec.parameter("classification_head")).typeSchema),
                .object(try XCTUnwrap(EffUNetBuilder.spec.parameter("classification_head")).typeSchema),
            ])
    }

    /// eff-unet's `classification_head` object and `in_channels` through model.create: defaults filled in, errors
    /// naming the field inside the object, and `model.architectures` listing the fields.
    func testEffUNetHeadObjectAndInChannels() throws {
        let h = Harness()
        let base: JSONObject = [
            "architecture": "eff-unet", "input_shape": [1, 64, 64], "encoder": "efficientnet-b0",
            "decoder_channels": [16, 8, 8, 8, 4], "classes": 2,
        ]
        let created = try XCTUnwrap(
            h.result("model.create", overriding(base, ["classification_head": ["classes": 2, "from": "mask"]])))
        XCTAssertEqual(
            created["config"]?["classification_head"],
            ["classes": 2, "from": "mask", "pooling": "avg", "dropout": 0.2])
        XCTAssertEqual(created["config"]?["in_channels"], 1)
        XCTAssertEqual(created["config"]?["bn_momentum"], 0.01)
        XCTAssertEqual(
            h.result("model.create", overriding(base, ["bn_momentum": 0.1]))?["config"]?["bn_momentum"], 0.1)
        XCTAssertEqual(created["outputs"]?.arrayValue?.map { $0["name"] }, ["mask", "class"])
        XCTAssertEqual(
            h.result("model.create", overriding(base, ["classification_head": .null]))?["config"]?[
                "classification_head"],
            .null)
        func error(_ extra: JSONObject) -> JSONValue? { h.call("model.create", overriding(base, extra))?["error"] }
        let cases: [(JSONObject, String, String)] = [
            (["classification_head": 2], "classification_head", "must be an object or null, got integer"),
            (["classification_head": ["from": "mask"]], "classification_head.classes", "is required"),
            (
                ["classification_head": ["classes": 2, "source": "mask"]], "classification_head.source",
                "is not a known parameter (known: classes, dropout, from, pooling)"
            ),
            (
                ["classification_head": ["classes": 2, "pooling": "sum"]], "classification_head.pooling",
                #"must be one of "avg", "max", got "sum""#
            ),
            (["in_channels": 3], "in_channels", "is 3 but input_shape's C is 1 (give one of them, or both equal)"),
            (["in_channels": 2, "input_shape": [2, 64, 64]], "in_channels", "must be 1 or 3, got 2"),
            (["bn_momentum": 0], "bn_momentum", "must be in (0.0, 1.0], got 0.0"),
            (["bn_momentum": 1.5], "bn_momentum", "must be in (0.0, 1.0], got 1.5"),
            (["bn_momentum": "fast"], "bn_momentum", "must be a number, got string"),
            (
                ["deep_supervision": true, "decoder": "unet"], "deep_supervision",
                #"needs decoder "unetplusplus" (the U-Net decoder has no inner nodes)"#
            ),
        ]
        for (extra, field, reason) in cases {
            let e = error(extra)
            XCTAssertEqual(e?["code"], -32602, "\(extra)")
            XCTAssertEqual(e?["data"]?["field"], .string(field), "\(extra)")
            XCTAssertEqual(e?["data"]?["reason"], .string(reason), "\(extra)")
        }
        let list = try XCTUnwrap(h.result("model.architectures")?["architectures"]?.arrayValue)
        let eff = try XCTUnwrap(list.first { $0["name"] == "eff-unet" }?["parameters"]?.arrayValue)
        let head = try XCTUnwrap(eff.first { $0["name"] == "classification_head" })
        XCTAssertEqual(head["type"], "object")
        XCTAssertEqual(head["default"], .null)
        XCTAssertEqual(
            head["fields"]?.arrayValue?.compactMap { $0["name"]?.stringValue },
            ["classes", "from", "pooling", "dropout"])
        XCTAssertEqual(head["fields"]?[0]?["required"], true)
        XCTAssertEqual(head["fields"]?[1]?["choices"], ["encoder", "mask"])
        // in_channels shows the value it takes without input_shape's help (smp's 3), not null.
        XCTAssertEqual(eff.first { $0["name"] == "in_channels" }?["default"], 3)
        XCTAssertEqual(eff.first { $0["name"] == "bn_momentum" }?["default"], 0.01)
        h.finish()
    }

    func testModelArchitecturesListsNamesParametersDefaultsAndDescriptions() throws {
        let h = Harness()
        let list = try XCTUnwrap(h.result("model.architectures")?["architectures"]?.arrayValue)
        XCTAssertEqual(list.compactMap { $0["name"]?.stringValue }, ["unet-classifier", "unet", "eff-unet"])
        let unet = try XCTUnwrap(list.first { $0["name"] == "unet" })
        XCTAssertFalse(unet["description"]?.stringValue?.isEmpty ?? true)
        let depth = try XCTUnwrap(unet["parameters"]?.arrayValue?.first { $0["name"] == "depth" })
        XCTAssertEqual(
            depth,
            [
                "name": "depth", "type": "integer", "default": 4, "minimum": 1, "maximum": 6,
                "description": "encoder levels (each halves the resolution)",
            ])
        let upsampling = try XCTUnwrap(unet["parameters"]?.arrayValue?.first { $0["name"] == "upsampling" })
        XCTAssertEqual(upsampling["choices"], ["transpose", "bilinear", "nearest"])
        let classifier = try XCTUnwrap(list.first { $0["name"] == "unet-classifier" })
        XCTAssertEqual(classifier["parameters"]?.arrayValue?.compactMap { $0["name"]?.stringValue }, ["classes"])
        XCTAssertEqual(classifier["parameters"]?[0]?["default"], 2)
        h.finish()
    }

    func testBadArchitectureParametersAreInvalidParamsListingWhatIsValid() {
        let h = Harness()
        func error(_ params: JSONObject) -> JSONValue? { h.call("model.create", params)?["error"] }
        let unknown = error(["architecture": "resnet", "input_shape": [1, 8, 8]])
        XCTAssertEqual(unknown?["code"], -32602)
        XCTAssertEqual(unknown?["data"]?["field"], "architecture")
        XCTAssertEqual(
            unknown?["data"]?["reason"], #"must be one of "unet-classifier", "unet", "eff-unet", got "resnet""#)
        let foreign = error(["architecture": "unet-classifier", "input_shape": [1, 8, 8], "depth": 2])
        XCTAssertEqual(foreign?["data"]?["field"], "depth")
        XCTAssertEqual(
            foreign?["data"]?["reason"],
            #"is not a parameter of architecture "unet-classifier" (its parameters: classes)"#)
        let nowhere = error(["architecture": "unet", "input_shape": [1, 8, 8], "width": 2])
        XCTAssertEqual(nowhere?["data"]?["field"], "width")
        XCTAssertTrue(nowhere?["data"]?["reason"]?.stringValue?.contains("depth") ?? false, "lists the known names")
        let typed = error(["architecture": "unet", "input_shape": [1, 8, 8], "depth": "four"])
        XCTAssertEqual(typed?["data"]?["field"], "depth")
        XCTAssertEqual(typed?["data"]?["reason"], "must be an integer, got string")
        let fraction = error(["architecture": "unet", "input_shape": [1, 8, 8], "filters": 2.5])
        XCTAssertEqual(fraction?["data"]?["reason"], "must be an integer, got number")
        let range = error(["architecture": "unet", "input_shape": [1, 8, 8], "dropout": 1])
        XCTAssertEqual(range?["data"]?["field"], "dropout")
        XCTAssertEqual(range?["data"]?["reason"], "must be in [0.0, 1.0), got 1.0")
        let flag = error(["architecture": "unet", "input_shape": [1, 8, 8], "batch_norm": 1])
        XCTAssertEqual(flag?["data"]?["reason"], "must be a boolean, got integer")
        XCTAssertEqual(h.errorCode("model.summary"), -32001, "failed creates leave no model")
        // An integral double is an integer, as Python may send 2.0.
        XCTAssertEqual(
            h.result(
                "model.create",
                [
                    "architecture": "unet", "input_shape": [1, 8, 8], "depth": 2.0,
                    "filters": 2,
                ])?["config"]?["depth"], 2)
        h.finish()
    }

    func testSummaryListsNamedOutputs() {
        let h = Harness()
        var params = Harness.tinyUNet
        params["classification_head"] = 3
        XCTAssertEqual(
            h.result("model.create", params)?["outputs"],
            [
                ["name": "mask", "kind": "mask", "channels": 1, "activation": "sigmoid"],
                ["name": "class", "kind": "class", "channels": 3, "activation": "softmax"],
            ])
        XCTAssertEqual(
            h.result("model.create", ["architecture": "unet-classifier", "input_shape": [1, 8, 8]])?["outputs"],
            [["name": "class", "kind": "class", "channels": 2, "activation": "sigmoid"]])
        h.finish()
    }

    func testACheckpointOfAnUnknownArchitectureIsRefusedAndTheModelStays() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("unet-arch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("future.safetensors").path
        var file = SafeTensors()
        file.tensors["w"] = Tensor(shape: [1], values: [1])
        file.metadata = [
            "format": "pt",
            Checkpoint.configKey: #"{"architecture":"future-net","input_shape":[3,64,64],"seed":0}"#,
        ]
        try file.write(path: path)
        let h = Harness()
        let before = h.result("model.create", Harness.tinyUNet)
        let refused = h.call("model.load", ["path": .string(path)])?["error"]
        XCTAssertEqual(refused?["code"], -32007)
        let reason = refused?["data"]?["reason"]?.stringValue ?? ""
        XCTAssertTrue(
            reason.contains(#"architecture: must be one of "unet-classifier", "unet", "eff-unet", got "future-net""#),
            reason)
        XCTAssertEqual(h.result("model.summary"), before, "the model is untouched")
        h.finish()
    }
}

/// `base` with `extra`'s members set over it.
private func overriding(_ base: JSONObject, _ extra: JSONObject) -> JSONObject {
    var o = base
    for (k, v) in extra { o[k] = v }
    return o
}
