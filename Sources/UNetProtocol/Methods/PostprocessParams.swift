import UNetCore

/// Reads the `postprocess` object of `segment` and `evaluate` (see `MaskPostprocessing`):
/// `{"opening": r (0...32), "keep_largest": k (1...1000), "fill_holes": bool, "connectivity": 4 | 8}`.
enum PostprocessParams {
    static func read(_ p: ParamsReader) throws -> MaskPostprocessing {
        guard let a = try p.object("postprocess") else { return MaskPostprocessing() }
        var post = MaskPostprocessing()
        post.opening = try a.int("opening", default: 0, in: 0...32)
        post.keepLargest = try a.int("keep_largest", in: 1...1000)
        post.fillHoles = try a.bool("fill_holes", default: false)
        if let c = try a.int("connectivity") {
            guard let connectivity = ConnectedComponents.Connectivity(rawValue: c) else {
                throw a.invalid("connectivity", "must be 4 or 8, got \(c)")
            }
            post.connectivity = connectivity
        }
        try a.finish()
        return post
    }

    /// Post-processing cleans a binary mask: a model whose mask has K > 1 classes refuses it.
    static func requireOneChannel(_ post: MaskPostprocessing, _ p: ParamsReader, channels: Int) throws {
        if !post.isIdentity && channels != 1 {
            throw p.invalid("postprocess", "applies to one-channel (sigmoid) masks; this model's mask has \(channels)")
        }
    }
}
