/// Connected components of a binary mask, numbered as `scipy.ndimage.label` numbers them: 1, 2, ... in the
/// raster order of each component's first pixel, 0 for background.
public struct ConnectedComponents: Sendable {
    /// Which neighbours touch: 4 (edges, scipy's default cross) or 8 (edges and corners, MONAI's default).
    public enum Connectivity: Int, Sendable, Codable, CaseIterable {
        case four = 4
        case eight = 8
    }

    public let height: Int
    public let width: Int
    /// One label per pixel, row-major.
    public let labels: [Int32]
    /// The pixel count of component k + 1 at index k.
    public let sizes: [Int]

    /// Labels `mask` (row-major, `height` x `width`) by flood fill from each unlabelled foreground pixel in raster
    /// order.
    public init(_ mask: [Bool], height: Int, width: Int, connectivity: Connectivity) {
        precondition(mask.count == height * width, "mask size")
        var labels = [Int32](repeating: 0, count: mask.count), sizes: [Int] = []
        let steps: [(Int, Int)] =
            connectivity == .four
            ? [(-1, 0), (1, 0), (0, -1), (0, 1)]
            : [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
        var stack: [Int] = []
        for start in mask.indices where mask[start] && labels[start] == 0 {
            let label = Int32(sizes.count + 1)
            var size = 0
            labels[start] = label
            stack.append(start)
            while let i = stack.popLast() {
                size += 1
                let (y, x) = (i / width, i % width)
                for (dy, dx) in steps {
                    let (ny, nx) = (y + dy, x + dx)
                    guard ny >= 0, ny < height, nx >= 0, nx < width else { continue }
                    let j = ny * width + nx
                    if mask[j] && labels[j] == 0 { labels[j] = label; stack.append(j) }
                }
            }
            sizes.append(size)
        }
        self.height = height
        self.width = width
        self.labels = labels
        self.sizes = sizes
    }

    /// The mask of the `k` largest components (ties go to the lower label, the earlier in raster order).
    public func largest(_ k: Int) -> [Bool] {
        let keep = sizes.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }.prefix(k)
        var kept = [Bool](repeating: false, count: sizes.count + 1)
        for index in keep { kept[index + 1] = true }
        return labels.map { kept[Int($0)] }
    }
}
