import Foundation
import UNetJSON
import XCTest

@testable import UNetCore

/// The training state in a checkpoint's metadata goes through jansson like every other entry; its dropout state
/// words (UInt64, often beyond Int64) must come back bit for bit, from new files and from files written before.
final class TrainingStateCodingTests: XCTestCase {
    let words: [[UInt64]] = [
        [UInt64.max, 0x8000_0000_0000_0001, 1, 0], [0xDEAD_BEEF_0123_4567, 42, UInt64(Int64.max) + 7, 3],
    ]

    func state() -> TrainingState {
        var config = TrainingConfig()
        config.learningRate = 0.003
        return TrainingState(
            config: config, classWeights: [0.25, 1.5], epoch: 3, batchInEpoch: 17,
            dropoutStates: words)
    }

    func testWordsBeyondInt64RoundTripThroughJansson() throws {
        let text = try state().text
        XCTAssertTrue(text.contains("\"ffffffffffffffff\""), text)
        XCTAssertTrue(text.contains("\"8000000000000001\""), text)
        let back = try TrainingState.decode(text: text)
        XCTAssertEqual(back, state())
        XCTAssertEqual(back.dropoutStates, words)
        XCTAssertEqual(back.classWeights, [0.25, 1.5])
    }

    /// What Foundation's JSONEncoder wrote before (bare integers up to 2^64 - 1) reads back exactly, not through
    /// a double (which would round UInt64.max to 2^64 and 0x8000000000000001 to 2^63).
    func testLegacyIntegerWordsReadExactly() throws {
        struct Legacy: Encodable {
            let config: TrainingConfig
            let class_weights: [Float]
            let epoch: Int
            let batch_in_epoch: Int
            let dropout_states: [[UInt64]]
        }
        let s = state()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let legacy = String(
            decoding: try encoder.encode(
                Legacy(
                    config: s.config, class_weights: [0.25, 1.5], epoch: 3,
                    batch_in_epoch: 17, dropout_states: words)), as: UTF8.self)
        XCTAssertTrue(legacy.contains("18446744073709551615"), legacy)
        let back = try TrainingState.decode(text: legacy)
        XCTAssertEqual(back.dropoutStates, words)
        XCTAssertEqual(back.epoch, 3)
        XCTAssertEqual(back.batchInEpoch, 17)
        XCTAssertEqual(back.config.learningRate, 0.003)
    }

    func testAMalformedWordIsAnError() throws {
        let text = try state().text.replacingOccurrences(of: "\"ffffffffffffffff\"", with: "\"fffffffffffffffz\"")
        XCTAssertThrowsError(try TrainingState.decode(text: text))
        let short = try state().text.replacingOccurrences(of: "\"ffffffffffffffff\"", with: "\"ff\"")
        XCTAssertThrowsError(try TrainingState.decode(text: short))
    }

    func testNoDropoutLayersIsAnEmptyList() throws {
        var s = state()
        s.dropoutStates = []
        XCTAssertEqual(try TrainingState.decode(text: try s.text).dropoutStates, [])
    }
}
