import Foundation
import UNetData
import XCTest

@testable import UNetProtocol

/// `unet-engine predict|segment --model M FILES...` through the built binary.
final class OneShotTests: XCTestCase {
    func testPredictAndSegmentPrintOneLinePerImage() throws {
        let dir = NSTemporaryDirectory() + "oneshot-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A model with both outputs, saved through the in-process dispatcher.
        let h = Harness()
        h.result(
            "model.create",
            [
                "architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4,
                "classification_head": 2,
            ])
        h.result("model.save", ["path": .string(dir + "/m.safetensors")])
        h.finish()
        let png = try UNetDataPNG.grey(gradient(20, 24), height: 20, width: 24)
        try png.write(to: URL(fileURLWithPath: dir + "/x.png"))

        let predict = try runEngine([
            "predict", "--model", dir + "/m.safetensors", dir + "/x.png", dir + "/missing.png",
        ])
        XCTAssertEqual(predict.status, 1, "one image failed")
        let lines = predict.stdout.split(separator: "\n").map { try! JSONCodec.decode(String($0)) }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0]["image"]?.stringValue, dir + "/x.png")
        XCTAssertEqual(lines[0]["probabilities"]?.arrayValue?.count, 2)
        XCTAssertEqual(lines[1]["error"]?["code"], -32002)

        let segment = try runEngine([
            "segment", "--model", dir + "/m.safetensors", "--output-dir", dir + "/out", dir + "/x.png",
        ])
        XCTAssertEqual(segment.status, 0)
        let line = try JSONCodec.decode(segment.stdout.trimmingCharacters(in: .newlines))
        XCTAssertEqual(line["shape"], [20, 24])
        XCTAssertTrue(FileManager.default.fileExists(atPath: line["path"]?.stringValue ?? ""))

        XCTAssertEqual(try runEngine(["predict", dir + "/x.png"]).status, 2, "no --model")
        XCTAssertEqual(try runEngine(["predict", "--model", dir + "/missing.safetensors", dir + "/x.png"]).status, 2)
    }

    /// The masks of one run are named by one rule: files with one stem get `x_mask.png`, `x_1_mask.png`, so
    /// the second never overwrites the first.
    func testSegmentOutputDirGivesFilesWithOneStemDistinctNames() throws {
        let dir = try temporaryDirectory()
        let h = Harness()
        h.result("model.create", Harness.tinyUNet)
        h.result("model.save", ["path": .string(dir + "/m.safetensors")])
        h.finish()
        var files: [String] = []
        for (k, (height, width)) in [(20, 24), (24, 20)].enumerated() {
            try FileManager.default.createDirectory(atPath: dir + "/\(k)", withIntermediateDirectories: true)
            try UNetDataPNG.grey(gradient(height, width), height: height, width: width)
                .write(to: URL(fileURLWithPath: dir + "/\(k)/x.png"))
            files.append(dir + "/\(k)/x.png")
        }
        let run = try runEngine(["segment", "--model", dir + "/m.safetensors", "--output-dir", dir + "/out"] + files)
        XCTAssertEqual(run.status, 0)
        let lines = run.stdout.split(separator: "\n").map { try! JSONCodec.decode(String($0)) }
        XCTAssertEqual(
            lines.compactMap { $0["path"]?.stringValue }, [dir + "/out/x_mask.png", dir + "/out/x_1_mask.png"])
        for line in lines {
            let mask = try ImageDecoder.decode(path: line["path"]?.stringValue ?? "")
            XCTAssertEqual(JSONValue([mask.height, mask.width]), line["shape"], "each file holds its own image's mask")
            XCTAssertNil(line["png"])
        }
    }

    /// `predict --help` and `segment --help` print the usage (options, output lines, exit codes) and exit 0;
    /// bad arguments exit 2 before anything is printed on stdout; `--encoding probabilities` gives the
    /// probabilities as a float32 raw array, like the protocol's.
    func testHelpBadArgumentsAndFloat32Probabilities() throws {
        let dir = try temporaryDirectory()
        let h = Harness()
        h.result(
            "model.create",
            [
                "architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4,
                "classification_head": 2,
            ])
        h.result("model.save", ["path": .string(dir + "/m.safetensors")])
        h.finish()
        try UNetDataPNG.grey(gradient(20, 24), height: 20, width: 24).write(to: URL(fileURLWithPath: dir + "/x.png"))
        let model = ["--model", dir + "/m.safetensors"]

        for command in ["predict", "segment", "explain"] {
            let help = try runEngine([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            XCTAssertTrue(help.stdout.contains("USAGE: unet-engine \(command) --model"), help.stdout)
            for needle in ["--threshold", "\"image\"", "\"error\"", "exit status", "  2  "] {
                XCTAssertTrue(help.stdout.contains(needle), "\(command) --help mentions \(needle)")
            }
        }
        XCTAssertTrue(try runEngine(["segment", "-h"]).stdout.contains("probabilities_json"))
        XCTAssertTrue(try runEngine(["--help"]).stdout.contains("unet-engine segment --help"))
        XCTAssertTrue(try runEngine(["--help"]).stdout.contains("unet-engine explain --model"))

        for bad in [
            ["segment"] + model + ["--encoding", "jpeg", dir + "/x.png"],
            ["segment"] + model + ["--threshold", "1.5", dir + "/x.png"],
            ["segment"] + model + ["--output-dir"],
            ["segment"] + model + ["--output-dir", dir + "/x.png/out", dir + "/x.png"],  // under a file
            ["predict"] + model + ["--encoding", "array", dir + "/x.png"],
            ["predict"] + model + ["--threshold", "0.3", dir + "/x.png"],  // two outputs: a threshold means nothing
            ["predict"] + model + ["--bogus", dir + "/x.png"],
        ] {
            let run = try runEngine(bad)
            XCTAssertEqual(run.status, 2, "\(bad)")
            XCTAssertEqual(run.stdout, "", "\(bad)")
        }

        let run = try runEngine(["segment"] + model + ["--encoding", "probabilities", dir + "/x.png"])
        XCTAssertEqual(run.status, 0)
        let line = try JSONCodec.decode(run.stdout.trimmingCharacters(in: .newlines))
        let probabilities = line["probabilities"]
        XCTAssertEqual(probabilities?["dtype"], "float32")
        XCTAssertEqual(probabilities?["shape"], [20, 24])
        let values = float32Values(probabilities)
        XCTAssertEqual(values.count, 480)
        XCTAssertTrue(values.allSatisfy { (0...1).contains($0) })
    }
}

/// Runs the built binary to completion with `arguments`; returns its exit status and stdout.
func runEngine(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
    guard let binary = EngineProcess.binary else { throw XCTSkip("unet-engine binary not found; set UNET_ENGINE_BIN") }
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// An 8-bit grey PNG of `pixels`.
enum UNetDataPNG {
    static func grey(_ pixels: [UInt8], height: Int, width: Int) throws -> Data {
        Data(try PNGEncoder.encodeGrey(pixels, height: height, width: width))
    }
}
