import Foundation
import UNetCore

/// `unet-engine predict --model M FILES...`, `unet-engine segment --model M --output-dir D FILES...` and
/// `unet-engine explain --model M --output-dir D FILES...` (the map and its overlay as PNGs): one
/// request per image through the same dispatcher and handlers the server uses, for scripts that do not want a
/// session. Each image's answer is one JSON line on stdout, `{"image": FILE, ...result}` or
/// `{"image": FILE, "error": {code, message, data}}`, in the order of the files (`OneShotUsage` is the help).
public enum OneShot {
    /// The three one-shots, by their command-line names.
    public enum Command: String, CaseIterable, Sendable {
        case predict, segment, explain
    }

    /// A one-shot's command line, parsed and checked (unet-engine's `OneShotCommand`s parse it).
    public struct Arguments: Sendable {
        public var command: Command
        /// The checkpoint to load.
        public var model: String
        /// Where segment's masks or explain's maps and overlays go; required by explain.
        public var outputDir: String?
        /// In [0, 1].
        public var threshold: Double?
        /// segment's mask encoding.
        public var encoding: MaskEncoding?
        /// explain's method, target class (an index or a name) and Grad-CAM layer, checked by the method itself.
        public var method: String?
        public var target: String?
        public var layer: String?
        public var files: [String]

        public init(command: Command, model: String, files: [String]) {
            (self.command, self.model, self.files) = (command, model, files)
        }
    }

    /// Runs a one-shot; returns the exit status (0: every image answered; 1: some failed; 2: a model that cannot be
    /// loaded or cannot do this command, or params the method refuses for every file).
    public static func run(_ arguments: Arguments) -> Int32 {
        let command = arguments.command.rawValue
        let (model, outputDir, threshold) = (arguments.model, arguments.outputDir, arguments.threshold)
        let (encoding, method, target, layer) =
            (arguments.encoding?.rawValue, arguments.method, arguments.target, arguments.layer)
        let files = arguments.files
        func fail(_ message: String) -> Int32 {
            FileHandle.standardError.write(
                Data("unet-engine \(command): \(message)\n(unet-engine \(command) --help shows the usage)\n".utf8))
            return 2
        }
        guard !files.isEmpty else { return fail("give one or more image files") }
        if arguments.command == .explain, outputDir == nil { return fail("--output-dir D is required") }

        let lock = NSLock()
        var answers: [Int: JSONValue] = [:]
        let done = DispatchSemaphore(value: 0)
        let dispatcher = Dispatcher(
            writer: ResponseWriter(output: { bytes in
                guard let message = try? JSONCodec.decode(String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self)),
                    message["method"] == nil, let id = message["id"]?.intValue
                else { return }
                lock.lock(); answers[Int(id)] = message; lock.unlock()
                done.signal()
            }), methods: MethodTable.methods())
        func call(_ id: Int, _ method: String, _ params: JSONObject) -> JSONValue {
            dispatcher.receive([
                "jsonrpc": "2.0", "id": JSONValue(id), "method": .string(method), "params": .object(params),
            ])
            while true {
                done.wait()
                lock.lock(); let a = answers[id]; lock.unlock()
                if let a { return a }
            }
        }
        /// Lets the dispatcher finish before the process exits with `status`.
        func finish(_ status: Int32) -> Int32 {
            dispatcher.endInput()
            dispatcher.waitUntilFinished()
            return status
        }
        let loaded = call(0, "model.load", ["path": .string(model)])
        if let e = loaded["error"] {
            return finish(fail("cannot load \(model): \(e["message"]?.stringValue ?? "")"))
        }
        // The masks of the whole run are named by one MaskFiles, so files with one stem get distinct names.
        var maskFiles: MaskFiles?, overlayFiles: MaskFiles?
        let stem = (method ?? "gradcam").replacingOccurrences(of: "+", with: "p")
        if let outputDir {
            do {
                if command == "explain" {
                    maskFiles = try MaskFiles(directory: outputDir, suffix: "_\(stem)", unnamed: stem)
                    overlayFiles = try MaskFiles(
                        directory: outputDir, suffix: "_\(stem)_overlay", unnamed: "\(stem)_overlay")
                } else if command == "segment" {
                    maskFiles = try MaskFiles(directory: outputDir)
                }
            } catch { return finish(fail(RPCError(error).message)) }
        }

        var failures = 0
        for (i, file) in files.enumerated() {
            var params: JSONObject = ["images": [["path": .string(file)]]]
            if let threshold { params["threshold"] = JSONValue(threshold) }
            if command == "segment" {
                if let encoding { params["encoding"] = .string(encoding) }
                if maskFiles != nil { params["encoding"] = "png" }
            }
            if command == "explain" {
                if let method { params["method"] = .string(method) }
                if let target { params["target"] = Int(target).map { JSONValue($0) } ?? .string(target) }
                if let layer { params["layer"] = .string(layer) }
                params["overlay"] = true
            }
            let answer = call(i + 1, command, params)
            if let e = answer["error"], isAboutTheArguments(e) {
                return finish(fail(e["message"]?.stringValue ?? "the model cannot do this"))
            }
            var line: JSONObject = ["image": .string(file)]
            if let e = answer["error"] {
                line["error"] = e
                failures += 1
            } else if let item = answer["result"]?[resultKey[command]!]?[0]?.objectValue {
                for (k, v) in item { line[k] = v }
                do {
                    for (key, pathKey, files) in [
                        ("png", "path", maskFiles), ("overlay", "overlay_path", overlayFiles),
                    ] {
                        guard var files, let png = line[key]?.stringValue else { continue }
                        line[key] = nil
                        let bytes = [UInt8](Data(base64Encoded: png) ?? Data())
                        line[pathKey] = .string(try files.write(bytes, stem: MaskFiles.stem(ofPath: file), index: i))
                        if key == "png" { maskFiles = files } else { overlayFiles = files }
                    }
                } catch {
                    line = ["image": .string(file), "error": RPCError(error).json]
                    failures += 1
                }
            }
            print(JSONCodec.encodeString(.object(line)))
            fflush(nil)  // every C stream, print's stdout among them: each line reaches a pipe at once
        }
        return finish(failures == 0 ? 0 : 1)
    }

    /// Where each command's result holds its one image's answer.
    static let resultKey = [
        Command.predict.rawValue: "predictions", Command.segment.rawValue: "masks",
        Command.explain.rawValue: "explanations",
    ]

    /// An error that every file would get alike, so it is the arguments' or the model's fault (exit 2), not
    /// one image's: a param the options set (`threshold` for a model with several outputs), or a model that
    /// cannot do this command (segment on a classifier, predict on a unet without a head).
    static func isAboutTheArguments(_ error: JSONValue) -> Bool {
        let field = error["data"]?["field"]?.stringValue
        return error["code"] == JSONValue(RPCError.unsupportedByModelCode)
            || (error["code"] == JSONValue(RPCError.invalidParamsCode)
                && ["threshold", "encoding", "method", "target", "layer"].contains(field))
    }
}
