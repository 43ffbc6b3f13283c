import Foundation

/// Crash-safe file replacement: the data goes to `<path>.tmp-<pid>-<random>` beside `path`, is fsynced, renamed
/// over `path`, and the folder is fsynced. A crash or a full disk leaves the previous file whole.
///
/// A process killed mid-write leaves its temporary file behind (a checkpoint's worth of bytes each time), so every
/// write first removes the temporary files of the same target whose process no longer exists.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let dir = PathNames.parent(of: path)
        removeStaleTemporaries(of: path)
        let tmp = "\(path)\(temporaryMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError.io(path, String(cString: strerror(errno))) }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n <= 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let err = errno
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let why = String(cString: strerror(ok ? errno : err))
            unlink(tmp)
            throw CheckpointError.io(path, why)
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// What follows the target's name in a temporary file's name, before `<pid>-<random>`.
    static let temporaryMarker = ".tmp-"

    /// Deletes `<path>.tmp-<pid>-<digits>` files in `path`'s folder whose process is gone. Files of live processes
    /// (another engine saving to the same name right now) and anything not named that way are left alone.
    static func removeStaleTemporaries(of path: String) {
        let dir = PathNames.parent(of: path)
        let prefix = PathNames.lastComponent(of: path) + temporaryMarker
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let parts = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, UInt32(parts[1]) != nil,
                kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            unlink(dir.isEmpty ? name : "\(dir == "/" ? "" : dir)/\(name)")
        }
    }
}
