/// Where a sample's image or mask comes from; decoded only when a batch needs it.
public enum ImageSource: Equatable, Sendable {
    /// A JPEG or PNG file.
    case file(String)
    /// JPEG or PNG bytes held in memory (inline base64 in a request); `name` labels errors.
    case bytes([UInt8], name: String)
    /// Pixels already decoded (a raw array from a host).
    case image(Image)
    /// Image `index` of a synthetic phantom set, rendered on demand.
    case phantom(PhantomGenerator, index: Int)
    /// The lung mask of phantom `index`.
    case phantomMask(PhantomGenerator, index: Int)

    /// A name for listings and errors.
    public var name: String {
        switch self {
        case .file(let path): return path
        case .bytes(_, let name): return name
        case .image: return "<array>"
        case .phantom(_, let i): return "phantom-\(i)"
        case .phantomMask(_, let i): return "phantom-\(i)-mask"
        }
    }

    /// Decodes a mask as one grey channel; a palette PNG gives its palette indices (`indexed` true) rather than
    /// the colours they stand for, since a palette mask's indices are its classes.
    public func loadMask() throws -> (image: Image, indexed: Bool) {
        let bytes: [UInt8]
        switch self {
        case .file(let path): bytes = try ImageDecoder.readFile(path)
        case .bytes(let b, _): bytes = b
        default: return (try load(channels: 1), false)
        }
        let indices = try bytes.withUnsafeBytes { raw -> Image? in
            PNGDecoder.isPNG(raw) ? try PNGDecoder.paletteIndices(raw, path: name) : nil
        }
        if let indices { return (indices, true) }
        return (try ImageDecoder.decode(bytes, channels: 1, path: name), false)
    }

    /// Decodes the source with `channels` (1, 3 or nil for as stored), letting a JPEG shrink by DCT scaling
    /// down to `atLeast`, windowing deep samples as `options` say. Masks of phantoms come back as 0/255 grey.
    public func load(
        channels: Int? = nil, atLeast: (height: Int, width: Int)? = nil,
        options: DecodeOptions = .init()
    ) throws -> Image {
        let image: Image
        switch self {
        case .file(let path):
            image = try ImageDecoder.decode(path: path, channels: channels, atLeast: atLeast, options: options)
        case .bytes(let bytes, let name):
            image = try ImageDecoder.decode(bytes, channels: channels, atLeast: atLeast, options: options, path: name)
        case .image(let pixels): image = pixels
        case .phantom(let generator, let i): image = generator.render(i).image
        case .phantomMask(let generator, let i): image = generator.render(i).mask
        }
        return channels.map { image.withChannels($0) } ?? image
    }
}
