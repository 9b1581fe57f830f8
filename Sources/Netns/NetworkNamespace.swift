import CSyscalls
import Foundation
import Glibc

/// A named network namespace at /run/netns/<name>, the place `ip netns` uses, so
/// `ip netns exec <name> …` works on every netns a lab makes.
public enum NetworkNamespace {
    public static let directory = "/run/netns"

    public static func path(_ name: String) -> String { "\(directory)/\(name)" }

    public static func exists(_ name: String) -> Bool { access(path(name), F_OK) == 0 }

    /// Names of every named netns on the machine (MeshLab's and anyone else's).
    public static func list() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// The nsfs inode identifying the netns; processes inside it show `net:[<inode>]`.
    public static func inode(_ name: String) -> UInt64? {
        var info = stat()
        return stat(path(name), &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Creates the netns and runs `inside` in it, on the calling thread, then returns the
    /// thread to the netns it was in. Call from a dedicated thread (see `DedicatedThread`).
    /// The name exists before the netns, and the netns before `inside` can mark it: a caller that may
    /// be killed records the name first (a lab's state file does), or uses `scratch` instead.
    public static func create(_ name: String, inside: () throws -> Void = {}) throws {
        try prepareDirectory()
        let target = path(name)
        let placeholder = open(target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard placeholder >= 0 else {
            if errno == EEXIST {
                throw NetnsError("network namespace '\(name)' already exists; if a lab left it, run `meshlab clean`")
            }
            throw NetnsError.errno("create \(target)")
        }
        close(placeholder)
        let home = try CurrentNetns()
        defer { home.restore() }
        guard meshlab_unshare_net() == 0 else {
            let code = errno
            unlink(target)
            throw NetnsError.errno("unshare a network namespace for '\(name)'", code)
        }
        guard mount("/proc/thread-self/ns/net", target, "none", UInt(MS_BIND), nil) == 0 else {
            let code = errno
            unlink(target)
            throw NetnsError.errno("bind-mount network namespace '\(name)' at \(target)", code)
        }
        try inside()
    }

    /// Runs `inside` in a new netns that has no name, on the calling thread, then returns the thread
    /// to the netns it was in. Nothing of it can outlive the process: with no bind mount holding it,
    /// the kernel frees it (and every link in it) once this thread has left and the tools started
    /// inside have exited, even after a SIGKILL. Call from a dedicated thread.
    public static func scratch<T>(_ inside: () throws -> T) throws -> T {
        let home = try CurrentNetns()
        defer { home.restore() }
        guard meshlab_unshare_net() == 0 else { throw NetnsError.errno("unshare a scratch network namespace") }
        return try inside()
    }

    /// Runs `body` inside the named netns on the calling thread, then moves the thread back.
    public static func within<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetnsError.errno("open network namespace '\(name)'") }
        defer { close(fd) }
        let home = try CurrentNetns()
        defer { home.restore() }
        guard meshlab_setns_net(fd) == 0 else { throw NetnsError.errno("enter network namespace '\(name)'") }
        return try body()
    }

    /// Moves the calling thread into the named netns for good (for `exec` before execve).
    public static func enter(_ name: String) throws {
        let fd = open(path(name), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetnsError.errno("open network namespace '\(name)'") }
        defer { close(fd) }
        guard meshlab_setns_net(fd) == 0 else { throw NetnsError.errno("enter network namespace '\(name)'") }
    }

    /// Unmounts and removes the name. The kernel frees the netns, its links and their peers
    /// once no process is left in it.
    public static func delete(_ name: String) throws {
        let target = path(name)
        if umount2(target, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw NetnsError.errno("unmount \(target)")
        }
        if unlink(target) != 0 && errno != ENOENT { throw NetnsError.errno("remove \(target)") }
    }

    /// /run/netns must be a shared mount point so bind mounts made here are seen by every
    /// mount namespace (this is what `ip netns add` does the first time).
    private static let directoryPrepared: Result<Void, NetnsError> = {
        mkdir(directory, 0o755)
        if mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0 { return .success(()) }
        guard errno == EINVAL,
              mount(directory, directory, "none", UInt(MS_BIND | MS_REC), nil) == 0,
              mount("", directory, "none", UInt(MS_SHARED | MS_REC), nil) == 0
        else { return .failure(.errno("make \(directory) a shared mount point")) }
        return .success(())
    }()

    private static func prepareDirectory() throws { try directoryPrepared.get() }
}

/// The calling thread's netns, to return to after working in another one.
struct CurrentNetns: ~Copyable {
    let fd: Int32

    init() throws {
        fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetnsError.errno("open this thread's network namespace") }
    }

    func restore() {
        // Failing to return would leave the thread in a lab netns: never acceptable.
        guard meshlab_setns_net(fd) == 0 else { fatalError("cannot return thread to its network namespace: errno \(errno)") }
    }

    deinit { close(fd) }
}
