/// Keras writes image shapes channels-last, [H, W, C]; the engine takes them channels-first, [C, H, W], as
/// PyTorch does. A Keras user's [64, 64, 1] would otherwise build a 64-channel model that no X-ray fits, and
/// [256, 256, 1] would be refused without saying why, so both `model.create` and `dataset.open` refuse a shape
/// that plainly reads channels-last and name the shape that was meant.
enum ChannelsLastShape {
    /// True for [H, W, C] with C 1 or 3 (grey or RGB) and H above 4: no X-ray model has more than 4 input
    /// channels and an image 1 or 3 pixels wide.
    static func looksChannelsLast(_ shape: [Int]) -> Bool {
        shape.count == 3 && (shape[2] == 1 || shape[2] == 3) && shape[0] > 4
    }

    /// Throws -32602 for `key` with "did you mean [C, H, W]?" when `shape` looks channels-last.
    static func refuse(_ shape: [Int], _ params: ParamsReader, key: String) throws {
        guard looksChannelsLast(shape) else { return }
        let meant = [shape[2], shape[0], shape[1]]
        throw params.invalid(
            key,
            "is [C, H, W] (channels first); \(shape) reads as Keras' [H, W, C]: did you mean \(meant)?")
    }
}
