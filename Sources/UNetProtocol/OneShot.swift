import Foundation
import UNetCore

/// `unet-engine predict --model M FILES...`, `unet-engine segment --model M --output-dir D FILES...` and
/// `unet-engine explain --model M --output-dir D FILES...` (the map and its overlay as PNGs): one
/// request per image through the same dispatcher and handlers the server uses, for scripts that do not want a
/// session. Each image's answer is one JSON line on stdout, `{"image": FILE, ...result}` or
/// `{"image": FILE, "error": {code, message, data}}`, in the order of the files (`OneShotUsage` is the help).
public enum OneShot {
    public static let commands = ["predict", "segment", "explain"]

    /// Runs `command` with its arguments; returns the exit status (0: every image answered; 1: some failed;
    /// 2: bad arguments or an unusable model).
    public static func run(_ command: String, _ arguments: [String]) -> Int32 {
        var args = arguments[...]
        var model: String?, outputDir: String?, threshold: Double?, encoding: String?
        var method: String?, target: String?, layer: String?
        var files: [String] = []
        func fail(_ message: String) -> Int32 {
            FileHandle.standardError.write(
                Data("unet-engine \(command): \(message)\n(unet-engine \(command) --help shows the usage)\n".utf8))
            return 2
        }
        if args.contains("--help") || args.contains("-h") {
            print(OneShotUsage.text(command), terminator: "")
            return 0
        }
        let only = ["--output-dir": ["segment", "explain"], "--encoding": ["segment"], "--method": ["explain"],
                    "--target": ["explain"], "--layer": ["explain"]]
        let known = ["--model", "--threshold", "--threads"] + only.filter { $0.value.contains(command) }.keys
        while let a = args.popFirst() {
            guard a.hasPrefix("--") else {
                files.append(a)
                continue
            }
            guard known.contains(a) else {
                return fail(only[a].map { "\(a) applies only to \($0.joined(separator: " and "))" } ?? "unknown option \(a)")
            }
            guard let v = args.popFirst() else { return fail("\(a) needs a value") }
            switch a {
            case "--model": model = v
            case "--output-dir": outputDir = v
            case "--method": method = v
            case "--target": target = v
            case "--layer": layer = v
            case "--threshold":
                guard let t = Double(v), (0...1).contains(t) else {
                    return fail("--threshold must be a number in [0, 1], got \(v)")
                }
                threshold = t
            case "--encoding":
                let names = MaskEncoding.allCases.map(\.rawValue)
                guard names.contains(v) else {
                    return fail("--encoding must be one of \(names.joined(separator: ", ")), got \(v)")
                }
                encoding = v
            default: return fail("--threads must be a positive integer, got \(v)")  // main takes valid ones
            }
        }
        guard let model else { return fail("--model M.safetensors is required") }
        guard !files.isEmpty else { return fail("give one or more image files") }
        if command == "explain", outputDir == nil { return fail("--output-dir D is required") }

        let lock = NSLock()
        var answers: [Int: JSONValue] = [:]
        let done = DispatchSemaphore(value: 0)
        let dispatcher = Dispatcher(writer: ResponseWriter(output: { bytes in
            guard let message = try? JSONCodec.decode(String(decoding: bytes.prefix { $0 != 10 }, as: UTF8.self)),
                  message["method"] == nil, let id = message["id"]?.intValue else { return }
            lock.lock(); answers[Int(id)] = message; lock.unlock()
            done.signal()
        }), methods: MethodTable.methods())
        func call(_ id: Int, _ method: String, _ params: JSONObject) -> JSONValue {
            dispatcher.receive(["jsonrpc": "2.0", "id": JSONValue(id), "method": .string(method), "params": .object(params)])
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
                    overlayFiles = try MaskFiles(directory: outputDir, suffix: "_\(stem)_overlay", unnamed: "\(stem)_overlay")
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
                    for (key, pathKey, files) in [("png", "path", maskFiles), ("overlay", "overlay_path", overlayFiles)] {
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
            fflush(stdout)
        }
        return finish(failures == 0 ? 0 : 1)
    }

    /// Where each command's result holds its one image's answer.
    static let resultKey = ["predict": "predictions", "segment": "masks", "explain": "explanations"]

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
