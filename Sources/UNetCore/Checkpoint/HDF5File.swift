import CHDF5
import Foundation

/// A read-only HDF5 file (Keras' weight files), through libhdf5: groups and float datasets by path, string
/// attributes, member names. Only what reading Keras weights needs.
final class HDF5File {
    let path: String
    private let id: hid_t

    /// Opens `path`; nil when it is not an HDF5 file (or a truncated one: HDF5 checks the superblock and the
    /// end-of-file address).
    init?(path: String) {
        let id = unet_h5_open_readonly(path)
        guard id >= 0 else { return nil }
        self.path = path
        self.id = id
    }

    deinit { H5Fclose(id) }

    /// An open group (the root is "/").
    final class Group {
        fileprivate let id: hid_t
        fileprivate init(_ id: hid_t) { self.id = id }
        deinit { H5Gclose(id) }

        func group(_ path: String) -> Group? {
            let g = unet_h5_open_group(id, path)
            return g >= 0 ? Group(g) : nil
        }

        /// A string attribute's strings (one for a scalar string, each element of an array).
        func strings(attribute name: String) -> [String]? {
            guard let joined = unet_h5_string_attribute(id, name) else { return nil }
            defer { free(joined) }
            return String(cString: joined).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        }

        var memberNames: [String] {
            guard let joined = unet_h5_member_names(id) else { return [] }
            defer { free(joined) }
            let text = String(cString: joined)
            return text.isEmpty ? [] : text.split(separator: "\n").map(String.init)
        }

        /// A float dataset at `path` as its shape and values, or nil when there is none.
        func floats(_ path: String) throws -> (shape: [Int], values: [Float])? {
            let d = unet_h5_open_dataset(id, path)
            guard d >= 0 else { return nil }
            defer { H5Dclose(d) }
            var dims = [UInt64](repeating: 0, count: 8)
            let n = unet_h5_dataset_dims(d, &dims, 8)
            guard n >= 0, unet_h5_dataset_is_float(d) != 0 else {
                throw HDF5Error(reason: "\(path) is not a float array")
            }
            let shape = dims.prefix(Int(n)).map { Int($0) }
            let count = shape.reduce(1, *)
            guard count <= 1 << 31 else { throw HDF5Error(reason: "\(path) is too large") }
            var values = [Float](repeating: 0, count: count)
            let status = values.withUnsafeMutableBufferPointer { unet_h5_read_floats(d, $0.baseAddress) }
            guard status >= 0 else { throw HDF5Error(reason: "\(path) cannot be read (a truncated file?)") }
            return (shape, values)
        }
    }

    var root: Group? {
        let g = unet_h5_open_root(id)
        return g >= 0 ? Group(g) : nil
    }
}

struct HDF5Error: Error { var reason: String }
