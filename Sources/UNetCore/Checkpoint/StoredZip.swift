import Foundation

/// The entries of a zip archive stored without compression, which is how Keras 3 writes a `.keras` file
/// (`zipfile.ZipFile(..., "w")`, ZIP_STORED): the central directory is read from its end record and each entry's
/// bytes are cut out after its local header. A compressed or zip64 entry is refused, not guessed at.
enum StoredZip {
    struct Invalid: Error { var reason: String }

    /// The bytes of the entry named `name`.
    static func entry(_ name: String, in data: Data) throws -> Data {
        let b = [UInt8](data)
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        // The end-of-central-directory record: signature 0x06054b50, within the last 64 KiB + 22 bytes.
        guard b.count >= 22,
            let end = stride(from: b.count - 22, through: max(0, b.count - 22 - 65_535), by: -1)
                .first(where: { u32($0) == 0x0605_4B50 })
        else {
            throw Invalid(reason: "not a zip archive (no end of central directory)")
        }
        let entries = u16(end + 10)
        var at = u32(end + 16)
        for _ in 0..<entries {
            guard at + 46 <= b.count, u32(at) == 0x0201_4B50 else {
                throw Invalid(reason: "a broken central directory")
            }
            let method = u16(at + 10), compressedSize = u32(at + 20), size = u32(at + 24)
            let nameLength = u16(at + 28), extraLength = u16(at + 30), commentLength = u16(at + 32)
            let local = u32(at + 42)
            guard at + 46 + nameLength <= b.count else { throw Invalid(reason: "a broken central directory") }
            let entryName = String(decoding: b[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
            if entryName == name {
                guard method == 0, compressedSize == size else {
                    throw Invalid(reason: "\(name) is compressed (method \(method)); Keras stores it uncompressed")
                }
                guard local + 30 <= b.count, u32(local) == 0x0403_4B50 else {
                    throw Invalid(reason: "a broken local header")
                }
                let start = local + 30 + u16(local + 26) + u16(local + 28)
                guard start + size <= b.count else { throw Invalid(reason: "\(name) is truncated") }
                return data.subdata(in: (data.startIndex + start)..<(data.startIndex + start + size))
            }
            at += 46 + nameLength + extraLength + commentLength
        }
        throw Invalid(reason: "the archive holds no \(name)")
    }
}
