import Foundation
import UNetCore
import UNetJSON

/// A file that could not be used, with why. A manifest's files are named by `row` (the 1-based line of the
/// manifest) and `path` is not reported: the engine never echoes a file's contents back.
public struct SkippedFile: Equatable, Sendable {
    public let path: String
    public let error: String
    public var row: Int?

    public init(path: String, error: String, row: Int? = nil) {
        self.path = path; self.error = error; self.row = row
    }
}

/// Reading a dataset's sample list from disk: class folders, image/mask folders, a manifest, or phantoms.
///
/// Every image is probed (its header only: format and size, within the size limits) when the dataset opens, so a
/// corrupt, truncated, empty or enormous file is listed in `skipped` with its reason instead of failing a batch
/// in the middle of training.
public enum DatasetSources {
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "dcm", "dicom"]
    /// Largest number of classes a manifest's integer labels may name (as `ModelConfig.classes`).
    static let maximumClasses = 1000

    /// Why a dataset cannot be opened at all.
    public struct OpenError: Error, CustomStringConvertible {
        public let field: String
        public let description: String
    }

    static func listImages(_ dir: String, field: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw OpenError(field: field, description: "\(dir) is not a folder")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        return names.filter { name in
            guard !name.hasPrefix(".") else { return false }
            let ext = (name as NSString).pathExtension.lowercased()
            // Extension-less files are taken when they are DICOM (PACS exports name files by UID alone).
            return imageExtensions.contains(ext)
                || (ext.isEmpty && ImageDecoder.isDICOMFile((dir as NSString).appendingPathComponent(name)))
        }.sorted()
    }

    /// Probes `path`; nil when it decodes as far as its header says, else the reason.
    static func probe(_ path: String) -> String? {
        do { _ = try ImageDecoder.probe(path: path); return nil } catch { return "\(error)" }
    }

    /// Why `path` cannot be used, without the path itself (for a manifest row, whose text is not echoed).
    static func probeReason(_ path: String) -> String? {
        do { _ = try ImageDecoder.probe(path: path); return nil } catch {
            return (error as? ImageError)?.message ?? "cannot be read"
        }
    }

    /// Keras' flow_from_directory: one subfolder per class, classes in sorted order.
    public static func classFolders(_ root: String) throws -> (
        samples: [Sample], classes: [String], skipped: [SkippedFile]
    ) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir), isDir.boolValue else {
            throw OpenError(field: "root", description: "\(root) is not a folder")
        }
        let classes = try FileManager.default.contentsOfDirectory(atPath: root).filter { name in
            var d: ObjCBool = false
            return !name.hasPrefix(".")
                && FileManager.default.fileExists(
                    atPath: (root as NSString).appendingPathComponent(name), isDirectory: &d)
                && d.boolValue
        }.sorted()
        guard !classes.isEmpty else { throw OpenError(field: "root", description: "\(root) has no class folders") }
        var samples: [Sample] = [], skipped: [SkippedFile] = []
        for (label, cls) in classes.enumerated() {
            let dir = (root as NSString).appendingPathComponent(cls)
            for name in try listImages(dir, field: "root") {
                let path = (dir as NSString).appendingPathComponent(name)
                if let why = probe(path) { skipped.append(SkippedFile(path: path, error: why)); continue }
                samples.append(Sample(image: .file(path), label: label))
            }
        }
        return (samples, classes, skipped)
    }

    /// Images and masks matched by file name (a mask may have another extension); `maskSuffix` is inserted before
    /// the mask's extension when masks are named `NAME<suffix>.png`.
    public static func imageMaskFolders(images: String, masks: String, maskSuffix: String = "")
        throws -> (samples: [Sample], skipped: [SkippedFile])
    {
        let imageNames = try listImages(images, field: "images")
        let maskNames = try listImages(masks, field: "masks")
        var maskByStem: [String: String] = [:]
        for m in maskNames {
            var stem = (m as NSString).deletingPathExtension
            if !maskSuffix.isEmpty, stem.hasSuffix(maskSuffix) { stem.removeLast(maskSuffix.count) }
            maskByStem[stem] = m
        }
        var samples: [Sample] = [], skipped: [SkippedFile] = []
        for name in imageNames {
            let path = (images as NSString).appendingPathComponent(name)
            guard let m = maskByStem[(name as NSString).deletingPathExtension] else {
                skipped.append(SkippedFile(path: path, error: "no mask with the same name in \(masks)"))
                continue
            }
            let maskPath = (masks as NSString).appendingPathComponent(m)
            if let why = probe(path) { skipped.append(SkippedFile(path: path, error: why)); continue }
            if let why = probe(maskPath) { skipped.append(SkippedFile(path: maskPath, error: why)); continue }
            samples.append(Sample(image: .file(path), mask: .file(maskPath)))
        }
        return (samples, skipped)
    }

    /// A CSV (header `path,label,mask`, any subset with `path`) or JSON-lines file ({"path", "label", "mask"}).
    /// Relative paths are relative to the manifest's folder. Labels may be class names or indices.
    public static func manifest(_ file: String) throws -> (samples: [Sample], classes: [String], skipped: [SkippedFile])
    {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw OpenError(field: "manifest", description: "cannot read \(file): \(error.localizedDescription)")
        }
        let base = PathNames.parent(of: file)
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p) }
        var rows: [(row: Int, path: String, label: String?, mask: String?)] = []
        // (line number in the file, text) of the non-blank lines.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            .map { ($0.offset + 1, String($0.element)) }.filter { !$0.1.trimmingCharacters(in: .whitespaces).isEmpty }
        if file.lowercased().hasSuffix(".jsonl") || lines.first?.1.hasPrefix("{") == true {
            for (n, line) in lines {
                guard let o = (try? JSONCodec.decode(line, maximumDepth: JSONCodec.fileMaximumDepth))?.objectValue,
                    let path = o["path"]?.stringValue
                else {
                    throw OpenError(field: "manifest", description: "\(file) line \(n) is not {\"path\": ...}")
                }
                let label = o["label"]?.stringValue ?? o["label"]?.intValue.map { "\($0)" }
                rows.append((n, path, label, o["mask"]?.stringValue))
            }
        } else {
            guard let header = lines.first?.1.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }),
                let pi = header.firstIndex(of: "path")
            else {
                throw OpenError(field: "manifest", description: "\(file) needs a CSV header with a path column")
            }
            let li = header.firstIndex(of: "label"), mi = header.firstIndex(of: "mask")
            for (n, line) in lines.dropFirst() {
                let f = line.split(separator: ",", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard f.count == header.count else {
                    throw OpenError(
                        field: "manifest",
                        description: "\(file) line \(n) has \(f.count) fields, the header \(header.count)")
                }
                rows.append(
                    (
                        n, f[pi], li.map { f[$0] }.flatMap { $0.isEmpty ? nil : $0 },
                        mi.map { f[$0] }.flatMap { $0.isEmpty ? nil : $0 }
                    ))
            }
        }
        let labels = Set(rows.compactMap(\.label))
        // Integer labels keep their values (and name classes by number); names are sorted, as class folders.
        // A manifest without labels has no classes (0...-1 used to trap); indices are capped as model classes are.
        let numeric = labels.allSatisfy { Int($0) != nil }
        let indices = labels.compactMap { Int($0) }
        if numeric, let bad = indices.first(where: { !(0..<maximumClasses).contains($0) }) {
            throw OpenError(
                field: "manifest",
                description: "\(file) has label \(bad): class indices must be in 0...\(maximumClasses - 1)")
        }
        let classes = !numeric ? labels.sorted() : indices.max().map { (0...$0).map(String.init) } ?? []
        var samples: [Sample] = [], skipped: [SkippedFile] = []
        for r in rows {
            let path = resolve(r.path)
            if let why = probeReason(path) {
                skipped.append(SkippedFile(path: path, error: "image: \(why)", row: r.row)); continue
            }
            let mask = r.mask.map(resolve)
            if let m = mask, let why = probeReason(m) {
                skipped.append(SkippedFile(path: m, error: "mask: \(why)", row: r.row)); continue
            }
            let label = r.label.flatMap { numeric ? Int($0) : classes.firstIndex(of: $0) }
            samples.append(Sample(image: .file(path), mask: mask.map { .file($0) }, label: label))
        }
        return (samples, classes, skipped)
    }

    /// Synthetic chest X-ray phantoms with their lung masks and consolidation labels.
    public static func phantoms(count: Int, height: Int, width: Int, seed: UInt64) -> [Sample] {
        let generator = PhantomGenerator(seed: seed, height: height, width: width)
        return (0..<count).map { i in
            Sample(
                image: .phantom(generator, index: i), mask: .phantomMask(generator, index: i), label: generator.label(i)
            )
        }
    }

    /// Splits sample indices into (train, validation) by `fraction`, keeping every group (the first match of
    /// `groupPattern` in the file name, or the whole name) on one side. Groups are shuffled with `seed`, then
    /// taken for validation until it holds at least `fraction` of the samples.
    public static func split(_ samples: [Sample], fraction: Double, groupPattern: String?, seed: UInt64) throws
        -> (train: [Int], validation: [Int])
    {
        let regex = try groupPattern.map { p -> NSRegularExpression in
            do { return try NSRegularExpression(pattern: p) } catch {
                throw OpenError(field: "group_pattern", description: "\(p) is not a valid regular expression")
            }
        }
        var groups: [String: [Int]] = [:], order: [String] = []
        for (i, s) in samples.enumerated() {
            let name = (s.image.name as NSString).lastPathComponent
            var key = name
            if let regex, let m = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) {
                let r = m.numberOfRanges > 1 && m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range
                key = (name as NSString).substring(with: r)
            }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(i)
        }
        var rng = RandomGenerator(seed: seed &+ 0x5917)
        order.shuffle(using: &rng)
        let target = Int((Double(samples.count) * fraction).rounded())
        var validation: [Int] = []
        var taken = Set<String>()
        for key in order where validation.count < target {
            validation += groups[key]!
            taken.insert(key)
        }
        let train = order.filter { !taken.contains($0) }.flatMap { groups[$0]! }
        return (train.sorted(), validation.sorted())
    }
}
