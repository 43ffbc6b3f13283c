/// Contrast-limited adaptive histogram equalisation as OpenCV's `createCLAHE(clipLimit, tileGridSize).apply`
/// computes it on 8-bit images: a clipped histogram per tile, its cumulative sum as the tile's mapping, and
/// each pixel mapped by the bilinear blend of the four nearest tiles' mappings.
///
/// Unlike global equalisation it evens out contrast locally (a dark mediastinum beside bright lungs), and the
/// clip limit keeps it from amplifying noise in flat regions. The steps, so they can be checked against OpenCV:
/// an image whose sides are not multiples of the grid is padded at the bottom and right by reflection (OpenCV's
/// BORDER_REFLECT_101) by `tiles - side % tiles`; a tile's histogram is clipped at
/// `max(Int(clipLimit * tileArea / 256), 1)` and the excess spread evenly, the remainder one count at a time
/// every `256 / remainder` bins; the mapping is `round(cumulative * 255 / tileArea)`.
public struct CLAHE: Codable, Equatable, Sendable {
    /// OpenCV's `clipLimit`: a multiple of the mean bin height (tile area / 256); 0 or less: no clipping.
    public var clipLimit: Double
    /// Tiles down and across (OpenCV's `tileGridSize` is (across, down)).
    public var tileRows: Int
    public var tileColumns: Int

    public init(clipLimit: Double = 2, tileRows: Int = 8, tileColumns: Int = 8) {
        self.clipLimit = clipLimit
        self.tileRows = tileRows
        self.tileColumns = tileColumns
    }

    enum CodingKeys: String, CodingKey { case clipLimit = "clip_limit", tileGrid = "tile_grid" }

    /// `{"clip_limit": 2, "tile_grid": [rows, columns]}`, as the protocol's `harmonize.clahe`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let grid = try c.decodeIfPresent([Int].self, forKey: .tileGrid) ?? [8, 8]
        guard grid.count == 2 else {
            throw DecodingError.dataCorruptedError(
                forKey: .tileGrid, in: c, debugDescription: "must be [rows, columns]")
        }
        self.init(
            clipLimit: try c.decodeIfPresent(Double.self, forKey: .clipLimit) ?? 2, tileRows: grid[0],
            tileColumns: grid[1])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clipLimit, forKey: .clipLimit)
        try c.encode([tileRows, tileColumns], forKey: .tileGrid)
    }

    /// Every channel equalised on its own; values are rounded to 8-bit levels first, and come out as levels.
    public func apply(to image: Image) -> Image {
        var out = image
        let plane = image.height * image.width
        for c in 0..<image.channels {
            let levels = image.pixels[(c * plane)..<((c + 1) * plane)].map(Image.level)
            let mapped = equalize(levels, height: image.height, width: image.width)
            out.pixels.replaceSubrange((c * plane)..<((c + 1) * plane), with: mapped)
        }
        return out
    }

    /// One channel of 8-bit levels (row-major), mapped.
    func equalize(_ src: [Int], height h: Int, width w: Int) -> [Float] {
        let (ty, tx) = (tileRows, tileColumns)
        let divisible = h % ty == 0 && w % tx == 0
        let (ph, pw) = divisible ? (h, w) : (h + ty - h % ty, w + tx - w % tx)
        let (tileH, tileW) = (ph / ty, pw / tx)
        let tileArea = tileH * tileW
        /// Reflection about the last row or column without repeating it (OpenCV's BORDER_REFLECT_101).
        func reflect(_ i: Int, _ n: Int) -> Int { i < n ? i : max(2 * (n - 1) - i, 0) }
        let limit = clipLimit > 0 ? max(Int(clipLimit * Double(tileArea) / 256), 1) : 0
        let lutScale = Float(255) / Float(tileArea)
        var luts = [Float](repeating: 0, count: ty * tx * 256)
        for row in 0..<ty {
            for column in 0..<tx {
                var hist = [Int](repeating: 0, count: 256)
                for y in (row * tileH)..<((row + 1) * tileH) {
                    let sy = reflect(y, h)
                    for x in (column * tileW)..<((column + 1) * tileW) { hist[src[sy * w + reflect(x, w)]] += 1 }
                }
                if limit > 0 {
                    var clipped = 0
                    for i in 0..<256 where hist[i] > limit { clipped += hist[i] - limit; hist[i] = limit }
                    let batch = clipped / 256
                    var residual = clipped - batch * 256
                    for i in 0..<256 { hist[i] += batch }
                    if residual > 0 {
                        let step = max(256 / residual, 1)
                        var i = 0
                        while i < 256 && residual > 0 { hist[i] += 1; i += step; residual -= 1 }
                    }
                }
                var sum = 0
                let base = (row * tx + column) * 256
                for i in 0..<256 {
                    sum += hist[i]
                    luts[base + i] = min(max((Float(sum) * lutScale).rounded(.toNearestOrEven), 0), 255)
                }
            }
        }
        // Blend of the four nearest tiles' mappings, tile centres at (k + 0.5) tiles, clamped at the edges.
        let (invW, invH) = (1 / Float(tileW), 1 / Float(tileH))
        var columns: [(Int, Int, Float)] = []
        for x in 0..<w {
            let f = Float(x) * invW - 0.5
            let t1 = Int(f.rounded(.down))
            columns.append((max(t1, 0), min(t1 + 1, tx - 1), f - Float(t1)))
        }
        var out = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            let f = Float(y) * invH - 0.5
            let t1 = Int(f.rounded(.down))
            let (r1, r2, ya) = (max(t1, 0), min(t1 + 1, ty - 1), f - Float(t1))
            for x in 0..<w {
                let (c1, c2, xa) = columns[x]
                let v = src[y * w + x]
                let top = luts[(r1 * tx + c1) * 256 + v] * (1 - xa) + luts[(r1 * tx + c2) * 256 + v] * xa
                let bottom = luts[(r2 * tx + c1) * 256 + v] * (1 - xa) + luts[(r2 * tx + c2) * 256 + v] * xa
                out[y * w + x] = min(max((top * (1 - ya) + bottom * ya).rounded(.toNearestOrEven), 0), 255)
            }
        }
        return out
    }
}
