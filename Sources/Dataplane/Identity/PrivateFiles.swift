import Foundation
import Glibc
import Netns

/// Secrets on disk and control sockets, for root alone. Each is created with its final mode, never
/// chmod'ed afterwards, so no other user can open it in between: a key file holding the lab CA's key
/// lets its reader mint any mesh identity, and a config socket takes certificates and policy.
public enum PrivateFiles {
    public static let directoryMode: mode_t = 0o700
    public static let fileMode: mode_t = 0o600
    /// The umask a socket is bound under: bind(2) creates its file 0777 & ~umask, so this gives 0600.
    static let socketUmask: mode_t = 0o177

    /// Makes `path` a directory only its owner can enter: created 0700 (parents as usual); one that
    /// already exists must be a real directory of ours, and is narrowed to 0700 before anything goes in.
    public static func makeDirectory(_ path: String) throws {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        if mkdir(path, directoryMode) == 0 { return }
        guard errno == EEXIST else { throw NetnsError.errno("create the private directory \(path)") }
        var status = stat()
        guard lstat(path, &status) == 0 else { throw NetnsError.errno("inspect \(path)") }
        guard status.st_mode & S_IFMT == S_IFDIR, status.st_uid == geteuid() else {
            throw NetnsError("\(path) exists but is not a directory owned by uid \(geteuid()); remove it and bring the lab up again")
        }
        guard chmod(path, directoryMode) == 0 else { throw NetnsError.errno("make \(path) private") }
    }

    /// Writes `contents` to `path` readable by its owner only: a new file is created 0600 next to it
    /// (O_EXCL, so never one someone else opened first) and renamed over `path`.
    public static func write(_ contents: String, to path: String) throws {
        let temporary = "\(path).\(getpid()).tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw NetnsError.errno("create \(temporary)") }
        let bytes = Array(contents.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let error = NetnsError.errno("write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            offset += written
        }
        let synced = fsync(fd) == 0, closed = close(fd) == 0  // both, whatever the first says
        guard synced, closed else {
            unlink(temporary)
            throw NetnsError.errno("write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let error = NetnsError.errno("rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
    }

    private static let umaskLock = NSLock()

    /// Runs `bind` (of a unix socket) under umask 0177, so the socket file is born 0600: root only,
    /// as connect(2) needs write permission on it. The umask is the process's, hence the lock and
    /// the restore; a file another thread creates meanwhile only comes out narrower.
    public static func bindingPrivately<T>(_ bind: () throws -> T) rethrows -> T {
        try umaskLock.withLock {
            let previous = umask(socketUmask)
            defer { umask(previous) }
            return try bind()
        }
    }
}
