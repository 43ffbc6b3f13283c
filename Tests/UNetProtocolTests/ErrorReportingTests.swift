import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// Errors that used to be swallowed by a `try?` and are now answered: unknown keys inside an inline mask,
/// unreadable checkpoint metadata (preprocessing, class names, dataset positions), folders that cannot be made.
final class ErrorReportingTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "errors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func inlineBatch(mask: (JSONObject) -> JSONObject) -> JSONObject {
        var img = [UInt8](repeating: 40, count: 256), m = [UInt8](repeating: 0, count: 256)
        for y in 3..<10 { for x in 4..<12 { img[y * 16 + x] = 200; m[y * 16 + x] = 255 } }
        let maskObject = arrayImage(uint8: m, shape: [16, 16]).objectValue ?? [:]
        return ["images": [arrayImage(uint8: img, shape: [16, 16])], "masks": [.object(mask(maskObject))]]
    }

    func testAnUnknownKeyInsideAnInlineMaskIsInvalidParamsListingTheKnownOnes() {
        let h = Harness()
        defer { h.finish() }
        h.result("model.create", Harness.tinyUNet)
        let typo = h.call(
            "train.step",
            inlineBatch {
                var o = $0; o["shpae"] = [16, 16]; return o
            })
        XCTAssertEqual(typo?["error"]?["code"], -32602)
        XCTAssertEqual(typo?["error"]?["data"]?["field"], "masks[0].shpae")
        XCTAssertEqual(typo?["error"]?["data"]?["reason"], "is not a known parameter (known: array, path, png)")
        let two = h.call(
            "train.step",
            inlineBatch {
                var o = $0; o["png"] = "iVBORw0KGgo="; return o
            })
        XCTAssertEqual(two?["error"]?["data"]?["field"], "masks[0]")
        XCTAssertEqual(two?["error"]?["data"]?["reason"], "must have one of array, path, png, not array and png")
        XCTAssertNotNil(h.result("train.step", inlineBatch { $0 })?["loss"], "the plain mask still trains")
    }

    /// A checkpoint of the tiny U-Net with `metadata` beside its weights.
    private func checkpoint(_ name: String, metadata: [String: String]) throws -> String {
        let model = try Model.build(try ModelMethods.config(ParamsReader(Harness.tinyUNet)))
        let path = dir + "/\(name).safetensors"
        _ = try Checkpoint.save(model: model, optimizer: nil, to: path, extraMetadata: metadata)
        return path
    }

    func testUnreadableCheckpointMetadataIsCheckpointInvalidAndLeavesTheSessionAsItWas() throws {
        let cases: [(String, [String: String], String)] = [
            ("preprocessing", [ModelMethods.preprocessingKey: "{\"channels\": "], "unet_engine.preprocessing"),
            ("names", [ModelMethods.classNamesKey: "{\"a\": 1}"], "unet_engine.class_names"),
            ("positions", [TrainingSession.positionsKey: "[1, 2"], "dataset positions"),
        ]
        let h = Harness()
        defer { h.finish() }
        var other = Harness.tinyUNet
        other["filters"] = 2
        let before = h.result("model.create", other)
        XCTAssertNotNil(before)
        for (name, metadata, mentioned) in cases {
            let path = try checkpoint(name, metadata: metadata)
            let e = h.call("model.load", ["path": .string(path)])?["error"]
            XCTAssertEqual(e?["code"], -32007, name)
            XCTAssertTrue(e?["message"]?.stringValue?.contains(mentioned) ?? false, "\(name): \(e ?? .null)")
            XCTAssertEqual(h.result("model.summary"), before, "\(name): the current model stays")
        }
        let good = try checkpoint("good", metadata: [ModelMethods.classNamesKey: "[\"a\", \"b\"]"])
        XCTAssertNotNil(h.result("model.load", ["path": .string(good)]), "well-formed metadata loads")
    }

    /// The error of a one-epoch fit on phantoms whose `callbacks` write below a regular file (`dir/a-file`), so
    /// that their folder cannot be made.
    private func fitWritingBelowAFile(_ callbacks: (String) -> JSONValue) -> (JSONValue?, String) {
        let file = dir + "/a-file"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let h = Harness()
        defer { h.finish() }
        h.result("dataset.open", ["name": "ph", "phantoms": ["count": 4, "size": [16, 16], "seed": 1]])
        h.result("model.create", Harness.tinyUNet)
        return (h.call("train.fit", ["dataset": "ph", "epochs": 1, "callbacks": callbacks(file)])?["error"], file)
    }

    func testACheckpointFolderThatCannotBeMadeIsAnIOError() throws {
        let (e, file) = fitWritingBelowAFile { ["checkpoint": ["path": .string($0 + "/sub/best.safetensors")]] }
        XCTAssertEqual(e?["code"], -32008)
        XCTAssertTrue(
            e?["message"]?.stringValue?.contains("cannot create the folder \(file)/sub") ?? false, "\(e ?? .null)")
    }

    func testALogFolderThatCannotBeMadeSaysSo() throws {
        let (e, file) = fitWritingBelowAFile { ["csv_logger": ["path": .string($0 + "/sub/log.csv")]] }
        XCTAssertEqual(e?["data"]?["field"], "callbacks.csv_logger.path")
        XCTAssertTrue(
            e?["data"]?["reason"]?.stringValue?.contains("cannot create the folder \(file)/sub") ?? false,
            "\(e ?? .null)")
    }

    /// One mapping: every error type the engine's modules throw converts through `RPCErrorConvertible`.
    func testEveryModulesErrorMapsThroughTheOneProtocol() {
        let errors: [Error] = [
            ConfigError(field: "depth", reason: "must be in 1...6, got 9"),
            CheckpointError.notFound("/x"), CheckpointError.invalid("/x", "why"), CheckpointError.io("/x", "why"),
        ]
        for e in errors { XCTAssertTrue(e is RPCErrorConvertible, "\(e)") }
        XCTAssertEqual(RPCError(ConfigError(field: "depth", reason: "r")).data?["field"], "depth")
        XCTAssertEqual(RPCError(CheckpointError.notFound("/x")).code, RPCError.fileNotFoundCode)
        XCTAssertEqual(RPCError(CheckpointError.io("/x", "why")).code, RPCError.ioErrorCode)
        struct Other: Error {}
        XCTAssertEqual(RPCError(Other()).code, RPCError.internalErrorCode)
    }
}
