import Glibc

/// Network sysctls are per netns: /proc/sys/net shows the netns of the thread that opens it,
/// so call this from a thread inside the target netns.
public enum SysctlWriter {
    public static func write(_ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetnsError.errno("open sysctl \(key)") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw NetnsError.errno("set sysctl \(key)=\(value)") }
    }
}
