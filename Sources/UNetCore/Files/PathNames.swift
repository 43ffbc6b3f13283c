/// Path arithmetic on plain strings, for paths that come from outside (requests, manifests).
///
/// swift-corelibs-foundation's `NSString.deletingLastPathComponent` traps on a one-character path ("A", "A/",
/// "{epoch}" after a substitution that leaves one character, "\u{0}"), which killed the engine on
/// `model.save {"path": "A"}`. Everything that needs a path's folder asks here instead.
public enum PathNames {
    /// The folder that holds `path`: "" for a bare name ("A", "model.safetensors"), "/" for "/x", "a/b" for
    /// "a/b/c"; trailing and repeated slashes are ignored ("a//b/" has the folder "a").
    public static func parent(of path: String) -> String {
        var s = Substring(path)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        guard let slash = s.lastIndex(of: "/") else { return "" }
        var folder = s[..<slash]
        while folder.hasSuffix("/") { folder = folder.dropLast() }
        return folder.isEmpty && path.hasPrefix("/") ? "/" : String(folder)
    }

    /// The last component of `path`, without its folder ("c" for "a/b/c", "A" for "A").
    public static func lastComponent(of path: String) -> String {
        var s = Substring(path)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        guard let slash = s.lastIndex(of: "/") else { return String(s) }
        return String(s[s.index(after: slash)...])
    }
}
