import Foundation

/// The PNG files `segment` writes to `output_dir`, one per image, under names that never collide.
///
/// Rule: an image read from a file gives `<stem>_mask.png` (its file name without the extension), any other
/// image `mask_NNN.png` (its position in the request). A name already given to an earlier image of the same
/// request, or of the same one-shot run, takes the first free `_1`, `_2`, ... after the stem: `a.png` and
/// `b/a.png` give `a_mask.png` and `a_1_mask.png`. So two inputs with one stem never overwrite each other's
/// mask; a file left by an earlier request is overwritten.
struct MaskFiles {
    let directory: String
    /// What a file's name ends with (before `.png`) and an inline image's name starts with: `_mask` and `mask`
    /// for `segment`; `explain` names its files after the method (`_gradcam`, `_gradcam_overlay`).
    let suffix: String
    let unnamed: String
    private var used = Set<String>()

    /// Creates `directory` (and its parents) if needed: -32008 when it cannot be.
    init(directory: String, suffix: String = "_mask", unnamed: String = "mask") throws {
        (self.suffix, self.unnamed) = (suffix, unnamed)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RPCError(
                code: RPCError.ioErrorCode,
                message: "cannot create output_dir \(directory): \(error.localizedDescription)",
                data: ["path": .string(directory), "reason": .string(error.localizedDescription)])
        }
        self.directory = directory
    }

    /// The stem a mask of the image at `path` is named after.
    static func stem(ofPath path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// The next unused file name for image `index`, whose file had `stem` (nil for inline images).
    mutating func name(stem: String?, index: Int) -> String {
        let base = stem ?? String(format: "\(unnamed)_%03d", index)
        let suffix = stem == nil ? ".png" : self.suffix + ".png"
        var name = base + suffix
        var n = 1
        while used.contains(name) {
            name = "\(base)_\(n)\(suffix)"
            n += 1
        }
        used.insert(name)
        return name
    }

    /// Writes `png` under the next name for image `index` and returns its path: -32008 when it cannot.
    mutating func write(_ png: [UInt8], stem: String?, index: Int) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name(stem: stem, index: index))
        guard FileManager.default.createFile(atPath: path, contents: Data(png)) else {
            throw RPCError(
                code: RPCError.ioErrorCode, message: "cannot write \(path)",
                data: ["path": .string(path), "reason": "cannot create the file"])
        }
        return path
    }
}
