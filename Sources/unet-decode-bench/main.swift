// unet-decode-bench: how fast the real load path is. Decodes every JPEG/PNG of the given folders (recursively)
// to a grey SIZExSIZE input, once with TurboJPEG's DCT scaling (decode at 1/2, 1/4 or 1/8 when the target is
// that much smaller) and once at full resolution, and prints images/s for each on one thread. The Python script
// Examples/benchmarks/bench_decode.py runs Pillow on the same files in the same run for the comparison.
//
//     swift build -c release --product unet-decode-bench
//     .build/release/unet-decode-bench [--size 224] [--repeat 3] [--json] FOLDER...
import Foundation
import UNetData

var size = 224, repeats = 3, json = false
var folders: [String] = []
var args = Array(CommandLine.arguments.dropFirst())[...]
while let a = args.popFirst() {
    switch a {
    case "--size": size = Int(args.popFirst() ?? "") ?? size
    case "--repeat": repeats = Int(args.popFirst() ?? "") ?? repeats
    case "--json": json = true
    default: folders.append(a)
    }
}
guard !folders.isEmpty else {
    FileHandle.standardError.write(Data("usage: unet-decode-bench [--size N] [--repeat N] [--json] FOLDER...\n".utf8))
    exit(2)
}

var files: [String] = []
for folder in folders {
    let e = FileManager.default.enumerator(atPath: folder)
    while let f = e?.nextObject() as? String {
        if ["jpg", "jpeg", "png"].contains((f as NSString).pathExtension.lowercased()) {
            files.append((folder as NSString).appendingPathComponent(f))
        }
    }
}
files.sort()
// Read the bytes once, so both runs time decoding and resizing, not the disk.
let contents = files.map { (try? ImageDecoder.readFile($0)) ?? [] }

/// Images/s of decoding `contents` (named `files`) to `size`, best of `repeats`: the globals come in as arguments,
/// so that no top-level (main-actor) variable is read from this nonisolated function.
func run(dct: Bool, files: [String], contents: [[UInt8]], size: Int, repeats: Int) -> Double {
    let prep = Preprocessing(channels: 1, height: size, width: size, dctScaling: dct)
    var best = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        for (path, bytes) in zip(files, contents) {
            _ = try? prep.loadImage(.bytes(bytes, name: path))
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return Double(files.count) / best
}

let scaled = run(dct: true, files: files, contents: contents, size: size, repeats: repeats)
let full = run(dct: false, files: files, contents: contents, size: size, repeats: repeats)
if json {
    print(
        "{\"files\": \(files.count), \"size\": \(size), \"dct_scaling_images_per_second\": \(scaled), "
            + "\"full_decode_images_per_second\": \(full)}")
} else {
    print("\(files.count) files to \(size)x\(size) grey, best of \(repeats), one thread:")
    print(String(format: "  with DCT scaling:    %8.1f images/s", scaled))
    print(String(format: "  full-resolution:     %8.1f images/s", full))
}
