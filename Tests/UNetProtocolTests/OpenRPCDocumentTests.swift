import Foundation
import XCTest

@testable import UNetProtocol

/// The OpenRPC document generated from the method declarations: the committed `Protocol/openrpc.json` is it,
/// `rpc.discover` answers it, every served method has an entry with a result schema, and PROTOCOL.md names
/// every declared parameter in its method's section.
final class OpenRPCDocumentTests: XCTestCase {
    static let committedURL = EngineProcess.repositoryRoot.appendingPathComponent("Protocol/openrpc.json")

    /// `UNET_WRITE_OPENRPC=1` rewrites the committed file (as `make openrpc` does with `unet-engine --openrpc`).
    func testCommittedOpenRPCIsTheGeneratedDocument() throws {
        let generated = OpenRPCDocument.text
        if ProcessInfo.processInfo.environment["UNET_WRITE_OPENRPC"] != nil {
            try generated.write(to: Self.committedURL, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: Self.committedURL, encoding: .utf8)
        XCTAssertEqual(
            try JSONCodec.decode(committed), OpenRPCDocument.make(),
            "Protocol/openrpc.json differs from the declarations: run `make openrpc`")
        XCTAssertTrue(committed == generated, "Protocol/openrpc.json is not byte for byte `unet-engine --openrpc`")
    }

    /// The list comes from the live `engine.hello`, not from a literal.
    func testEveryMethodEngineHelloListsHasAnEntryWithAResultSchemaAndValidParams() throws {
        let h = Harness()
        let served = try XCTUnwrap(h.result("engine.hello")?["methods"]?.arrayValue).compactMap(\.stringValue)
        h.finish()
        XCTAssertFalse(served.isEmpty)
        let entries = try XCTUnwrap(OpenRPCDocument.make()["methods"]?.arrayValue)
        for name in served {
            let entry = try XCTUnwrap(entries.first { $0["name"] == .string(name) }, "\(name) has no entry")
            XCTAssertNotNil(entry["result"]?["schema"]?.objectValue, "\(name) has no result schema")
            XCTAssertNotNil(entry["summary"]?.stringValue, name)
            for p in entry["params"]?.arrayValue ?? [] {
                XCTAssertNotNil(p["name"]?.stringValue, name)
                XCTAssertNotNil(p["required"]?.boolValue, "\(name).\(p["name"] ?? .null)")
                XCTAssertNotNil(p["schema"]?.objectValue, "\(name).\(p["name"] ?? .null)")
            }
        }
        XCTAssertEqual(
            Set(served), Set(entries.compactMap { $0["name"]?.stringValue }),
            "the document lists exactly the served methods")
    }

    func testRPCDiscoverAnswersTheDocument() throws {
        let h = Harness()
        let discovered = h.result("rpc.discover")
        h.finish()
        XCTAssertEqual(discovered, OpenRPCDocument.make())
    }

    /// Every fragment is JSON (a typo would otherwise trap when the document is made).
    func testEverySchemaFragmentIsJSON() throws {
        var fragments = MethodTable.methods(includeDebug: true).map(\.result)
        fragments += [
            ProtocolSchemas.components, ProtocolSchemas.notifications, ProtocolSchemas.info,
            ParamSchemas.phantoms, ParamSchemas.augment, ParamSchemas.normalization, ParamSchemas.loss,
            ParamSchemas.classWeights, ParamSchemas.lrSchedule, ParamSchemas.callbacks, ParamSchemas.masks,
        ]
        for f in fragments { XCTAssertNoThrow(try JSONCodec.decode(f.text), String(f.text.prefix(80))) }
    }

    /// Every `$ref` in the document names a component it has.
    func testEveryReferenceResolves() throws {
        let doc = OpenRPCDocument.make()
        var refs: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let o):
                for (k, x) in o { if k == "$ref", let s = x.stringValue { refs.append(s) } else { walk(x) } }
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(doc)
        XCTAssertFalse(refs.isEmpty)
        for ref in refs {
            let parts = ref.split(separator: "/").dropFirst().map(String.init)  // "#/components/schemas/Image"
            var node: JSONValue? = doc
            for part in parts { node = node?[part] }
            XCTAssertNotNil(node, "\(ref) does not resolve")
        }
    }

    /// Each method's section of PROTOCOL.md (its heading down to the next heading of the same level) names
    /// every parameter the method declares, in backquotes.
    func testProtocolDocumentsEveryDeclaredParamInItsMethodsSection() throws {
        let text = try String(
            contentsOf: EngineProcess.repositoryRoot.appendingPathComponent("Protocol/PROTOCOL.md"),
            encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func level(_ line: String) -> Int? {
            let hashes = line.prefix { $0 == "#" }.count
            return hashes > 0 && line.dropFirst(hashes).hasPrefix(" ") ? hashes : nil
        }
        for spec in MethodTable.methods(includeDebug: true) {
            var section: [String] = [], inside: Int?
            for line in lines {
                if let l = level(line) {
                    if let open = inside, l <= open, !line.contains("`\(spec.name)`") { inside = nil }
                    if inside == nil, line.contains("`\(spec.name)`") { inside = l }
                }
                if inside != nil { section.append(line) }
            }
            XCTAssertFalse(section.isEmpty, "PROTOCOL.md has no section for \(spec.name)")
            let body = section.joined(separator: "\n")
            for p in spec.declaredParams where !body.contains("`\(p.name)`") {
                XCTFail("PROTOCOL.md's \(spec.name) section does not name `\(p.name)`")
            }
        }
    }
}

/// The typed parameter keys: the declaration is the read.
final class ParamDeclarationTests: XCTestCase {
    static let count = Param.integer("count", in: 1...64, default: 4, "samples")
    static let threshold = Param.number("threshold", in: 0...1, "a probability")
    static let name = Param.string("name", "a name").required
    static let mode = Param.string("mode", oneOf: ["a", "b"], default: "a")

    private func reason(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as RPCError { return e.data?["reason"]?.stringValue } catch {}
        return nil
    }

    func testReadsDefaultsRangesAndRequired() throws {
        let p = ParamsReader(["count": 8, "threshold": 0.25, "name": "x"])
        XCTAssertEqual(try p[Self.count], 8)
        XCTAssertEqual(try ParamsReader([:])[Self.count], 4, "the declared default")
        XCTAssertEqual(try ParamsReader(["count": nil])[Self.count], 4, "null is the default")
        XCTAssertEqual(try p[Self.threshold], 0.25)
        XCTAssertNil(try ParamsReader([:])[Self.threshold])
        XCTAssertEqual(try p[Self.name], "x")
        XCTAssertEqual(try p[Self.mode], "a")
        XCTAssertEqual(reason { _ = try ParamsReader(["count": 65])[Self.count] }, "must be in 1...64, got 65")
        XCTAssertEqual(reason { _ = try ParamsReader([:])[Self.name] }, "is required")
        XCTAssertEqual(
            reason { _ = try ParamsReader(["mode": "c"])[Self.mode] }, "must be one of \"a\", \"b\", got \"c\"")
    }

    func testTheSchemaShowsWhatTheReadChecks() {
        XCTAssertEqual(
            Self.count.schema,
            [
                "type": "integer", "minimum": 1, "maximum": 64, "default": 4,
                "description": "samples",
            ])
        XCTAssertEqual(
            Self.threshold.schema,
            [
                "type": "number", "minimum": 0.0, "maximum": 1.0,
                "description": "a probability",
            ])
        XCTAssertTrue(Self.name.isRequired)
        XCTAssertEqual(
            Param.integer("seed", in: 0...Int.max).schema, ["type": "integer", "minimum": 0],
            "an open upper bound is left out")
        XCTAssertEqual(
            Self.mode.descriptor,
            [
                "name": "mode", "required": false,
                "schema": ["type": "string", "enum": ["a", "b"], "default": "a"],
            ])
    }

    /// The dispatcher accepts exactly the declared names, for every method.
    func testTheDispatcherAcceptsExactlyTheDeclaredNames() {
        for spec in MethodTable.methods(includeDebug: true) {
            XCTAssertEqual(spec.params, Set(spec.declaredParams.map(\.name)), spec.name)
            XCTAssertEqual(spec.params.count, spec.declaredParams.count, "\(spec.name) declares a name twice")
        }
        let h = Harness()
        let e = h.call("dataset.files", ["name": "x", "ofset": 3])
        h.finish()
        XCTAssertEqual(e?["error"]?["data"]?["field"], "ofset")
        XCTAssertEqual(e?["error"]?["data"]?["reason"], "is not a known parameter (known: limit, name, offset)")
    }
}

/// Nested objects checked by the dispatcher from their declared schemas.
final class NestedKeyCheckTests: XCTestCase {
    func testAnUnknownNestedKeyIsRefusedBeforeTheHandlerRunsListingTheDeclaredOnes() {
        let h = Harness()
        defer { h.finish() }
        // No model yet: the handler would answer -32001; the declaration's check answers first.
        let e = h.call("predict", ["images": [["path": "/x.png"]], "harmonize": ["clahe": ["clip_limt": 2]]])?["error"]
        XCTAssertEqual(e?["code"], -32602)
        XCTAssertEqual(e?["data"]?["field"], "harmonize.clahe.clip_limt")
        XCTAssertEqual(e?["data"]?["reason"], "is not a known parameter (known: clip_limit, tile_grid)")
        let tile = h.call("segment", ["images": [["path": "/x.png"]], "tile": ["size": [8, 8], "overlapp": 0.5]])
        XCTAssertEqual(tile?["error"]?["data"]?["field"], "tile.overlapp")
        let phantoms = h.call("dataset.open", ["name": "p", "phantoms": ["count": 2, "sise": [8, 8]]])
        XCTAssertEqual(phantoms?["error"]?["data"]?["field"], "phantoms.sise")
        XCTAssertEqual(phantoms?["error"]?["data"]?["reason"], "is not a known parameter (known: count, seed, size)")
        // augment's own reader still answers Keras' settings with where they belong.
        let keras = h.call("dataset.open", ["name": "p", "phantoms": ["count": 2], "augment": ["rescale": 0.5]])
        XCTAssertEqual(keras?["error"]?["data"]?["field"], "augment.rescale")
        XCTAssertTrue(keras?["error"]?["data"]?["reason"]?.stringValue?.contains("normalization") ?? false)
    }

    /// The schema never refuses a key the reader reads: every key a reader lists as known is a declared property.
    func testEveryKeyTheNestedReadersReadIsDeclared() throws {
        func known(_ read: (ParamsReader) throws -> Void, _ params: JSONObject) -> Set<String> {
            do { try read(ParamsReader(params)) } catch let e as RPCError {
                let reason = e.data?["reason"]?.stringValue ?? ""
                guard let open = reason.range(of: "(known: ") else { return [] }
                return Set(reason[open.upperBound...].dropLast().components(separatedBy: ", "))
            } catch {}
            return []
        }
        func declared(_ component: String) -> Set<String> {
            Set(
                NestedKeyCheck.resolve(["$ref": .string("#/components/schemas/\(component)")])["properties"]?
                    .objectValue?.keys ?? [])
        }
        let harmonize = known({ _ = try HarmonizeParams.read($0) }, ["harmonize": ["zz": 1]])
        XCTAssertFalse(harmonize.isEmpty)
        XCTAssertTrue(harmonize.isSubset(of: declared("Harmonize")), "\(harmonize)")
        let clahe = known({ _ = try HarmonizeParams.read($0) }, ["harmonize": ["clahe": ["zz": 1]]])
        XCTAssertEqual(clahe, ["clip_limit", "tile_grid"])
        let post = known({ _ = try PostprocessParams.read($0) }, ["postprocess": ["zz": 1]])
        XCTAssertFalse(post.isEmpty)
        XCTAssertTrue(post.isSubset(of: declared("Postprocess")), "\(post)")
        let tile = known({ _ = try TiledInference.read($0) }, ["tile": ["size": [8, 8], "zz": 1]])
        let tileSchema = Set(InferenceMethods.tile.schema["properties"]?.objectValue?.keys ?? [])
        XCTAssertFalse(tile.isEmpty)
        XCTAssertTrue(tile.isSubset(of: tileSchema), "\(tile) vs \(tileSchema)")
    }
}
