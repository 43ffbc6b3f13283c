import Foundation
import UNetCore
import XCTest

/// The seed's classifier trained in Keras (Tests/fixtures/make_keras_fixtures.py: Keras 2 whole-model and
/// weights-only .h5, Keras 3 .keras, at 32x32x1) loaded into the engine's unet-classifier: the engine reproduces
/// Keras' predictions. Files that are not Keras weights, truncated, or of another topology are refused.
final class KerasImportTests: XCTestCase {
    private func fixture(_ name: String) throws -> String {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return dir.appendingPathComponent("keras/\(name)").path
    }

    private let config = ModelConfig(architecture: .unetClassifier, inputShape: [1, 32, 32], classes: 2, seed: 9)

    func testKerasFilesReproduceKerasPredictions() throws {
        let expected =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: try fixture("predictions.json")))) as! [String: Any]
        let pixels = expected["pixels"] as! [[[Int]]]
        let predictions = (expected["predictions"] as! [[String]]).map { $0.map { Double($0)! } }
        let x = Tensor(zeros: [pixels.count, 1, 32, 32])
        for (n, image) in pixels.enumerated() {
            for (y, row) in image.enumerated() {
                for (c, v) in row.enumerated() { x.data[(n * 32 + y) * 32 + c] = Float(Double(v) / 255) }
            }
        }
        for file in ["classifier_keras2.h5", "classifier_weights_keras2.h5", "classifier.keras"] {
            let model = try KerasWeights.load(path: try fixture(file), config: config)
            let logits = try XCTUnwrap(try model.forward(x, training: false).classLogits)
            let p = Model.activate(logits, try XCTUnwrap(model.classActivation))
            for n in 0..<predictions.count {
                for k in 0..<2 {
                    XCTAssertEqual(
                        Double(p.data[n * 2 + k]), predictions[n][k], accuracy: 1e-5, "\(file) image \(n) class \(k)")
                }
            }
        }
    }

    private func temporaryFile(_ name: String, _ bytes: Data) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)")
        try bytes.write(to: url)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    private func refusal(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> KerasImportError? {
        do {
            _ = try KerasWeights.load(path: path, config: config)
            XCTFail("\(path) was loaded", file: file, line: line)
        } catch let e as KerasImportError { return e } catch {
            XCTFail("\(error)", file: file, line: line)
        }
        return nil
    }

    func testBadFilesAreRefusedNamingTheFirstLayerThatDoesNotFit() throws {
        let other = refusal(try fixture("other_topology.h5"))
        XCTAssertEqual(other?.layer, "conv2d")
        XCTAssertTrue(other?.reason.contains("[3, 3, 1, 8]") ?? false, other?.description ?? "")

        let whole = try Data(contentsOf: URL(fileURLWithPath: try fixture("classifier_keras2.h5")))
        XCTAssertNotNil(refusal(try temporaryFile("half.h5", whole.prefix(whole.count / 2))), "a truncated .h5")
        XCTAssertNotNil(refusal(try temporaryFile("text.h5", Data("not hdf5 at all".utf8))), "a text file")
        let archive = try Data(contentsOf: URL(fileURLWithPath: try fixture("classifier.keras")))
        XCTAssertNotNil(
            refusal(try temporaryFile("half.keras", archive.prefix(archive.count / 2))), "a truncated .keras")
        XCTAssertThrowsError(try KerasWeights.load(path: "/no/such/file.h5", config: config)) {
            XCTAssertEqual($0 as? CheckpointError, .notFound("/no/such/file.h5"))
        }
        var unet = config
        unet.architecture = .unet
        XCTAssertThrowsError(try KerasWeights.load(path: try fixture("classifier.keras"), config: unet))
    }
}
