import Foundation
import UNetCore
import XCTest

@testable import UNetProtocol

/// `model.load` of Keras files through the dispatcher: the seed's classifier loads and predicts as Keras did;
/// another topology, a truncated file and a model of another architecture are refused and the model is kept.
final class KerasLoadTests: XCTestCase {
    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../UNetCoreTests/Fixtures/keras").standardized

    private func path(_ name: String) -> JSONValue { .string(fixtures.appendingPathComponent(name).path) }

    func testModelLoadTakesKerasFilesAndRefusesOthersKeepingTheModel() throws {
        let h = Harness()
        XCTAssertEqual(h.errorCode("model.load", ["path": path("classifier.keras")]), -32001, "no model yet")
        h.result("model.create", ["architecture": "unet", "input_shape": [1, 32, 32], "depth": 2, "filters": 4])
        XCTAssertEqual(h.errorCode("model.load", ["path": path("classifier.keras")]), -32009, "not a classifier")

        h.result("model.create", ["architecture": "unet-classifier", "input_shape": [1, 32, 32], "classes": 2])
        let created = h.result("model.summary")
        let loaded = h.result("model.load", ["path": path("classifier_keras2.h5")])
        XCTAssertEqual(loaded?["total_params"], created?["total_params"])

        let refused = h.call("model.load", ["path": path("other_topology.h5")])
        XCTAssertEqual(refused?["error"]?["code"], -32007)
        XCTAssertEqual(refused?["error"]?["data"]?["layer"], "conv2d")
        let dir = NSTemporaryDirectory() + "keras-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let whole = try Data(contentsOf: fixtures.appendingPathComponent("classifier.keras"))
        try whole.prefix(whole.count - 1000).write(to: URL(fileURLWithPath: dir + "/cut.keras"))
        XCTAssertEqual(h.errorCode("model.load", ["path": .string(dir + "/cut.keras")]), -32007, "a truncated .keras")
        try Data("plain text".utf8).write(to: URL(fileURLWithPath: dir + "/text.h5"))
        XCTAssertEqual(h.errorCode("model.load", ["path": .string(dir + "/text.h5")]), -32007, "not HDF5")
        XCTAssertEqual(h.errorCode("model.load", ["path": .string(dir + "/none.h5")]), -32002)
        XCTAssertEqual(h.result("model.summary"), loaded, "the loaded model is kept")
        h.finish()
    }
}
