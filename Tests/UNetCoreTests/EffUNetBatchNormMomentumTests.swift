import Foundation
import TestSupport
import UNetJSON
import XCTest

@testable import UNetCore

/// eff-unet's `bn_momentum` (issue 15): it reaches every encoder BatchNorm, one training step moves a running mean
/// by exactly momentum · (batch mean − running mean), the decoder keeps PyTorch's 0.1, and 0.01 stays the default.
/// A tiny b0 so that it runs in a debug build (EffUNetTests is release-only).
final class EffUNetBatchNormMomentumTests: XCTestCase {
    static func config(momentum: Double?) -> ModelConfig {
        var parameters: [String: ParameterValue] = [
            "encoder": .string("efficientnet-b0"), "decoder_channels": .integers([16, 8, 8, 8, 4]),
        ]
        if let momentum { parameters["bn_momentum"] = .number(momentum) }
        return ModelConfig(architecture: .effUNet, inputShape: [1, 32, 32], seed: 4, parameters: parameters)
    }

    static func batchNorms(_ model: Model) -> [(name: String, bn: BatchNorm)] {
        model.network.nodes.compactMap { node in (node.layer as? BatchNorm).map { (node.name, $0) } }
    }

    func testMomentumReachesTheEncoderLayersAndDefaultsToSmps() throws {
        let defaulted = try Model.build(Self.config(momentum: nil))
        XCTAssertEqual(defaulted.config.parameters["bn_momentum"], .number(0.01))
        let model = try Model.build(Self.config(momentum: 0.25))
        let all = Self.batchNorms(model)
        let encoder = all.filter { $0.name.hasPrefix("encoder.") }
        let decoder = all.filter { $0.name.hasPrefix("decoder.") }
        XCTAssertGreaterThan(encoder.count, 30)
        XCTAssertGreaterThan(decoder.count, 10)
        for (name, bn) in encoder { XCTAssertEqual(bn.momentum, 0.25, name) }
        for (name, bn) in decoder { XCTAssertEqual(bn.momentum, 0.1, name) }
        for (name, bn) in Self.batchNorms(defaulted) where name.hasPrefix("encoder.") {
            XCTAssertEqual(bn.momentum, 0.01, name)
        }
    }

    /// One training forward: each tapped encoder BatchNorm's running mean moves by momentum · (batch mean − old),
    /// and its running variance by momentum · (unbiased batch variance − old), as PyTorch's do.
    func testOneStepMovesTheRunningStatisticsByMomentum() throws {
        let momentum: Float = 0.25
        for layer in ["encoder._bn0", "encoder._blocks.3._bn1", "encoder._blocks.10._bn2"] {
            let model = try Model.build(Self.config(momentum: Double(momentum)))
            let nodes = model.network.nodes
            let index = try XCTUnwrap(nodes.firstIndex { $0.name == layer })
            let bn = try XCTUnwrap(nodes[index].layer as? BatchNorm)
            // A running mean away from 0, so that the old value's weight (1 - momentum) is tested too.
            for c in 0..<bn.channels { bn.runningMean.data[c] = Float(c % 5) * 0.3 - 0.5 }
            let oldMean = (0..<bn.channels).map { bn.runningMean.data[$0] }
            let oldVar = (0..<bn.channels).map { bn.runningVar.data[$0] }
            model.network.tap = nodes[index].inputs[0]
            _ = try model.forward(randomTensor([3, 1, 32, 32], seed: 9), training: true)
            let x = try XCTUnwrap(model.network.tappedOutput)
            let (n, c) = (x.shape[0], x.shape[1])
            let p = x.count / (n * c)
            XCTAssertEqual(c, bn.channels)
            for ch in 0..<c {
                var values: [Double] = []
                for i in 0..<n { for j in 0..<p { values.append(Double(x.data[(i * c + ch) * p + j])) } }
                let mean = values.reduce(0, +) / Double(values.count)
                let unbiased = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
                let expectedMean = Double(oldMean[ch]) + Double(momentum) * (mean - Double(oldMean[ch]))
                let expectedVar = Double(oldVar[ch]) + Double(momentum) * (unbiased - Double(oldVar[ch]))
                XCTAssertEqual(Double(bn.runningMean.data[ch]), expectedMean, accuracy: 1e-5, "\(layer) \(ch)")
                XCTAssertEqual(
                    Double(bn.runningVar.data[ch]), expectedVar, accuracy: 1e-5 * max(1, expectedVar), "\(layer) \(ch)")
            }
            // The step moved them at all (a momentum that did not arrive would leave them, or move them by 0.01).
            XCTAssertNotEqual(bn.runningMean.data[0], oldMean[0])
        }
    }

    /// The checkpoint stores it; a configuration written before it existed loads with smp's 0.01.
    func testCheckpointsKeepTheMomentumAndOldOnesGetSmps() throws {
        let path = NSTemporaryDirectory() + "bn-momentum-\(ProcessInfo.processInfo.processIdentifier).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.save(model: try Model.build(Self.config(momentum: 0.3)), optimizer: nil, to: path)
        let loaded = try Checkpoint.load(path: path, current: nil).model
        XCTAssertEqual(loaded.config.parameters["bn_momentum"], .number(0.3))
        for (name, bn) in Self.batchNorms(loaded) where name.hasPrefix("encoder.") {
            XCTAssertEqual(bn.momentum, 0.3, name)
        }
        var old = Self.config(momentum: 0.3)
        old.parameters.removeValue(forKey: "bn_momentum")
        let text = try JSONValueCoding.text(old)
        XCTAssertFalse(text.contains("bn_momentum"))
        let decoded = try JSONValueCoding.decode(ModelConfig.self, fromText: text)
        XCTAssertEqual(decoded.parameters["bn_momentum"], .number(0.01))
    }

    func testBadMomentumNamesTheField() {
        for bad in [0.0, -0.1, 1.5] {
            XCTAssertThrowsError(try Model.build(Self.config(momentum: bad)), "\(bad)") { error in
                XCTAssertEqual((error as? ConfigError)?.field, "bn_momentum", "\(bad)")
            }
        }
        XCTAssertNoThrow(try Model.build(Self.config(momentum: 1)))
    }
}
