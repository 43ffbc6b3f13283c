import UNetCore
import XCTest

/// Asserts two float sequences agree elementwise within `atol + rtol * |expected|`, and reports the worst
/// element (index, both values) when they do not.
public func assertClose(
    _ actual: [Float], _ expected: [Float], atol: Float = 1e-5, rtol: Float = 1e-4,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(message()): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var worst = -1
    var worstExcess: Float = 0
    for i in 0..<actual.count {
        let excess = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if !(excess <= worstExcess) && (excess > 0 || actual[i].isNaN != expected[i].isNaN) {
            worst = i
            worstExcess = excess.isNaN ? .infinity : excess
        }
    }
    if worst >= 0 {
        XCTFail(
            "\(message()): element \(worst) is \(actual[worst]), expected \(expected[worst]) "
                + "(atol \(atol), rtol \(rtol))", file: file, line: line)
    }
}

public func assertClose(
    _ actual: Tensor, _ expected: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4,
    _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.shape, expected.shape, "\(message()): shape", file: file, line: line)
    assertClose(actual.array, expected.array, atol: atol, rtol: rtol, message(), file: file, line: line)
}

/// A tensor of the given shape filled with seeded values uniform in [low, high).
public func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed)
    let t = Tensor(zeros: shape)
    for i in 0..<t.count { t[i] = rng.uniform(low, high) }
    return t
}
