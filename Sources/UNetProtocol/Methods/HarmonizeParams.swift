import UNetData

/// Reads the `harmonize` object of `dataset.open`, `predict` and `segment` (see `Harmonization`):
/// `{"crop_borders": bool, "border_tolerance": 0...255, "percentiles": [low, high], "equalize": bool,
/// "clahe": {"clip_limit": 0...1000, "tile_grid": [rows, columns]}}`. Errors name `harmonize.FIELD`.
enum HarmonizeParams {
    /// nil when the request has no `harmonize` (inference then repeats the session's, from the dataset or the
    /// checkpoint); `{}` asks for none.
    static func read(_ p: ParamsReader) throws -> Harmonization? {
        guard let a = try p.object("harmonize") else { return nil }
        var h = Harmonization()
        h.cropBorders = try a.bool("crop_borders", default: false)
        h.borderTolerance = Float(try a.double("border_tolerance", default: 8, in: 0...255))
        if a.has("percentiles") {
            guard let v = try a.array("percentiles", count: 2...2), let low = v[0].doubleValue,
                let high = v[1].doubleValue, low >= 0, low < high, high <= 100
            else { throw a.invalid("percentiles", "must be [low, high] with 0 <= low < high <= 100") }
            h.percentiles = [low, high]
        }
        h.equalize = try a.bool("equalize", default: false)
        if let c = try a.object("clahe") {
            if h.equalize { throw a.invalid("clahe", "give equalize or clahe, not both") }
            let grid = try c.intArray("tile_grid", count: 2...2, each: 1...64) ?? [8, 8]
            h.clahe = CLAHE(
                clipLimit: try c.double("clip_limit", default: 2, in: 0...1000),
                tileRows: grid[0], tileColumns: grid[1])
            try c.finish()
        }
        try a.finish()
        try h.validate()
        return h
    }
}
