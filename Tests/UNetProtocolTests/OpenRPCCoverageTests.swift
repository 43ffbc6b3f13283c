import Foundation
import XCTest

@testable import UNetProtocol

/// `Protocol/openrpc.json` against the method table the server dispatches from: a param a method accepts but the
/// document omits (or the reverse) fails here. The document is generated from the same declarations
/// (`OpenRPCDocumentTests`), so this holds by construction once the committed file is regenerated.
final class OpenRPCCoverageTests: XCTestCase {
    func testEveryMethodsParamsAreTheOnesOpenRPCDocuments() throws {
        let documented = try XCTUnwrap(try ArchitectureRegistryTests.openrpc["methods"]?.arrayValue)
        for spec in MethodTable.methods(includeDebug: true) where !OpenRPCDocument.isReserved(spec.name) {
            let entry = try XCTUnwrap(documented.first { $0["name"] == .string(spec.name) }, spec.name)
            let names = Set((entry["params"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue })
            XCTAssertEqual(names.subtracting(spec.params), [], "\(spec.name): documented but not accepted")
            XCTAssertEqual(spec.params.subtracting(names), [], "\(spec.name): accepted but not in openrpc.json")
        }
    }

    /// PROTOCOL.md's `dataset.open` table has a row for every parameter the method accepts.
    func testProtocolTablesEveryDatasetOpenParam() throws {
        let text = try String(
            contentsOf: EngineProcess.repositoryRoot.appendingPathComponent("Protocol/PROTOCOL.md"),
            encoding: .utf8)
        let spec = try XCTUnwrap(MethodTable.methods().first { $0.name == "dataset.open" })
        for name in spec.params.sorted() {
            XCTAssertTrue(text.contains("| `\(name)` |"), "PROTOCOL.md's dataset.open table lacks `\(name)`")
        }
    }
}
