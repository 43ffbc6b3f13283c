import Foundation
import XCTest

@testable import UNetCore

/// The size estimate's parameter and buffer counts are what `Checkpoint.load` compares a file against, so they
/// must equal the built models' exactly, for every architecture and option.
final class ModelSizeEstimateTests: XCTestCase {
    func testCountsEqualBuiltModels() throws {
        var configs = [
            ModelConfig(architecture: .unetClassifier, inputShape: [3, 32, 28], classes: 5),
            ModelConfig(architecture: .unetClassifier, inputShape: [1, 16, 16]),
        ]
        for up in ModelConfig.Upsampling.allCases {
            for bn in [false, true] {
                configs.append(
                    ModelConfig(
                        architecture: .unet, inputShape: [3, 30, 18], classes: 3, depth: 2,
                        filters: 3, batchNorm: bn, upsampling: up, classificationHead: 2,
                        dropout: 0.5))
                configs.append(
                    ModelConfig(
                        architecture: .unet, inputShape: [1, 16, 16], depth: 1, filters: 2,
                        batchNorm: bn, upsampling: up))
            }
        }
        for c in configs {
            let model = try Model.build(c)
            let e = ModelSizeEstimate(c)
            XCTAssertEqual(e.parameters, model.parameterCount, "\(c)")
            XCTAssertEqual(e.buffers, model.network.namedBuffers.reduce(0) { $0 + $1.value.count }, "\(c)")
            XCTAssertGreaterThan(e.activations, 0)
        }
    }

    func testReferenceClassifierCount() {
        XCTAssertEqual(
            ModelSizeEstimate(ModelConfig(architecture: .unetClassifier, inputShape: [3, 224, 224])).parameters,
            8_305_602)
    }

    func testHugeModelsAreRefusedNamingTheField() {
        let huge = ModelConfig(architecture: .unetClassifier, inputShape: [1, 8192, 8192], classes: 1000)
        XCTAssertThrowsError(try Model.build(huge)) { XCTAssertEqual(($0 as? ConfigError)?.field, "input_shape") }
        let wide = ModelConfig(architecture: .unet, inputShape: [1, 64, 64], depth: 4, filters: 64)
        XCTAssertThrowsError(try ModelSizeEstimate(wide).check(wide, limit: 1_000_000)) {
            XCTAssertEqual(($0 as? ConfigError)?.field, "filters")
        }
    }
}

final class PathNamesTests: XCTestCase {
    func testParentOfShortAndOddPaths() {
        for (path, parent) in [
            ("A", ""), ("A/", ""), ("\u{0}", ""), ("", ""), ("/", "/"), ("/x", "/"), ("a/b", "a"),
            ("a//b/", "a"), ("/a/b/c", "/a/b"), ("./m", "."),
        ] {
            XCTAssertEqual(PathNames.parent(of: path), parent, path)
        }
        XCTAssertEqual(PathNames.lastComponent(of: "a/b/c"), "c")
        XCTAssertEqual(PathNames.lastComponent(of: "A"), "A")
    }

    func testCheckedProduct() {
        XCTAssertNil(CheckedSize.product([2_147_483_648, 2_147_483_648, 2_147_483_648]))
        XCTAssertNil(CheckedSize.product([-1, 2]))
        XCTAssertEqual(CheckedSize.product([]), 1)
        XCTAssertEqual(CheckedSize.product(3, 4, 5), 60)
    }

    func testSafeTensorsShapeOverflowIsInvalid() throws {
        let header = #"{"w":{"dtype":"F32","shape":[2147483648,2147483648,2147483648],"data_offsets":[0,16]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        data.append(Data(count: 16))
        XCTAssertThrowsError(try SafeTensors.parse(data))
    }
}
