import Foundation
import UNetCore

/// `unet-engine predict --model M FILES...` and `unet-engine segment --model M --output-dir D FILES...`: one
/// request per image through the same dispatcher and handlers the server uses, for scripts that do not want a
/// session. Each image's answer is one JSON line on stdout, `{"image": FILE, ...result}` or
/// `{"image": FILE, "error": {code, message, data}}`, in the order of the files (`OneShotUsage` is the help).
public enum OneShot {
    public static let commands = ["predict", "segment"]

    /// Runs `command` with its arguments; returns the exit status (0: every image answered; 1: some failed;
    /// 2: bad arguments or an unusable model).
    public static func run(_ command: String, _ arguments: [String]) -> Int32 {
        var args = arguments[...]
        var model: String?, outputDir: String?, threshold: Double?, encoding: String?
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
        let segmentOnly = ["--output-dir", "--encoding"]
        let known = ["--model", "--threshold", "--threads"] + (command == "segment" ? segmentOnly : [])
        while let a = args.popFirst() {
            guard a.hasPrefix("--") else {
                files.append(a)
                continue
            }
            guard known.contains(a) else {
                return fail(segmentOnly.contains(a) ? "\(a) applies only to segment" : "unknown option \(a)")
            }
            guard let v = args.popFirst() else { return fail("\(a) needs a value") }
            switch a {
            case "--model": model = v
            case "--output-dir": outputDir = v
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
        var maskFiles: MaskFiles?
        if command == "segment", let outputDir {
            do { maskFiles = try MaskFiles(directory: outputDir) } catch { return finish(fail(RPCError(error).message)) }
        }

        var failures = 0
        for (i, file) in files.enumerated() {
            var params: JSONObject = ["images": [["path": .string(file)]]]
            if let threshold { params["threshold"] = JSONValue(threshold) }
            if command == "segment" {
                if let encoding { params["encoding"] = .string(encoding) }
                if maskFiles != nil { params["encoding"] = "png" }
            }
            let answer = call(i + 1, command, params)
            if let e = answer["error"], isAboutTheArguments(e) {
                return finish(fail(e["message"]?.stringValue ?? "the model cannot do this"))
            }
            var line: JSONObject = ["image": .string(file)]
            if let e = answer["error"] {
                line["error"] = e
                failures += 1
            } else if let item = answer["result"]?[command == "predict" ? "predictions" : "masks"]?[0]?.objectValue {
                for (k, v) in item { line[k] = v }
                if maskFiles != nil, let png = line["png"]?.stringValue {
                    line["png"] = nil
                    do {
                        let bytes = [UInt8](Data(base64Encoded: png) ?? Data())
                        line["path"] = .string(
                            try maskFiles!.write(bytes, stem: MaskFiles.stem(ofPath: file), index: i))
                    } catch {
                        line = ["image": .string(file), "error": RPCError(error).json]
                        failures += 1
                    }
                }
            }
            print(JSONCodec.encodeString(.object(line)))
            fflush(stdout)
        }
        return finish(failures == 0 ? 0 : 1)
    }

    /// An error that every file would get alike, so it is the arguments' or the model's fault (exit 2), not
    /// one image's: a param the options set (`threshold` for a model with several outputs), or a model that
    /// cannot do this command (segment on a classifier, predict on a unet without a head).
    static func isAboutTheArguments(_ error: JSONValue) -> Bool {
        let field = error["data"]?["field"]?.stringValue
        return error["code"] == JSONValue(RPCError.unsupportedByModelCode)
            || (error["code"] == JSONValue(RPCError.invalidParamsCode) && ["threshold", "encoding"].contains(field))
    }
}
