/// Clean-up of a predicted binary mask, as MONAI's post-processing transforms do it: an optional morphological
/// opening (removes specks and thin bridges), then `KeepLargestConnectedComponent` (the k largest; k = 2 for
/// a pair of lungs), then `FillHoles`.
///
/// A model run on another hospital's images tends to fail by scattering small false islands (text, markers,
/// a bowel gas shadow) and holes, not by moving the lungs; the anatomy says there are two lungs without holes.
/// Each step is scipy.ndimage's: `binary_opening` with a (2r+1) x (2r+1) square and border 0,
/// `label`, `binary_fill_holes` (background 4-connected to the border stays background).
public struct MaskPostprocessing: Equatable, Sendable {
    /// Opening radius r in pixels (0: none).
    public var opening = 0
    /// Keep only this many largest components (nil: all).
    public var keepLargest: Int?
    public var fillHoles = false
    /// Which neighbours make one component for `keepLargest`.
    public var connectivity = ConnectedComponents.Connectivity.eight

    public init() {}

    public var isIdentity: Bool { opening == 0 && keepLargest == nil && !fillHoles }

    /// The steps on a row-major `height` x `width` mask.
    public func apply(_ mask: [Bool], height: Int, width: Int) -> [Bool] {
        var m = mask
        if opening > 0 { m = MaskPostprocessing.opened(m, height: height, width: width, radius: opening) }
        if let k = keepLargest {
            m = ConnectedComponents(m, height: height, width: width, connectivity: connectivity).largest(k)
        }
        if fillHoles { m = MaskPostprocessing.holesFilled(m, height: height, width: width) }
        return m
    }

    /// Foreground plus every background pixel not 4-connected to the image's border (scipy's
    /// `binary_fill_holes` with its default structure).
    public static func holesFilled(_ mask: [Bool], height: Int, width: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: mask.count), stack: [Int] = []
        func visit(_ i: Int) { if !mask[i] && !outside[i] { outside[i] = true; stack.append(i) } }
        for x in 0..<width { visit(x); visit((height - 1) * width + x) }
        for y in 0..<height { visit(y * width); visit(y * width + width - 1) }
        while let i = stack.popLast() {
            let (y, x) = (i / width, i % width)
            if y > 0 { visit(i - width) }
            if y < height - 1 { visit(i + width) }
            if x > 0 { visit(i - 1) }
            if x < width - 1 { visit(i + 1) }
        }
        return outside.map { !$0 }
    }

    /// Erosion then dilation by a (2r+1) square, pixels outside the image being background (scipy's
    /// `binary_opening` with `border_value` 0). The square is separable: a window along rows, then columns.
    public static func opened(_ mask: [Bool], height: Int, width: Int, radius r: Int) -> [Bool] {
        /// One axis of the square: a pixel becomes whether all (erosion) or any (dilation) of the 2r + 1
        /// pixels around it along the axis are foreground, outside the image counting as background.
        func pass(_ m: [Bool], alongRows: Bool, erode: Bool) -> [Bool] {
            var out = m
            let (lines, length) = alongRows ? (height, width) : (width, height)
            for line in 0..<lines {
                func at(_ k: Int) -> Int { alongRows ? line * width + k : k * width + line }
                for k in 0..<length {
                    var any = false, all = true
                    for d in (k - r)...(k + r) {
                        let v = d >= 0 && d < length && m[at(d)]
                        any = any || v
                        all = all && v
                    }
                    out[at(k)] = erode ? all : any
                }
            }
            return out
        }
        let eroded = pass(pass(mask, alongRows: true, erode: true), alongRows: false, erode: true)
        return pass(pass(eroded, alongRows: true, erode: false), alongRows: false, erode: false)
    }
}
