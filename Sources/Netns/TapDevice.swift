import CSyscalls
import Glibc

/// A persistent TAP device in the calling thread's netns (the userspace Geneve endpoint's wire).
public enum TapDevice {
    /// Creates (or attaches to) the TAP `name` and returns its fd; frames written to it enter the
    /// kernel as if received on the device. A persistent device outlives the fd (until its netns goes).
    /// Call from a thread inside the target netns.
    public static func open(_ name: String, persistent: Bool = true) throws -> Int32 {
        let fd = meshlab_tap_open(name, persistent ? 1 : 0)
        guard fd >= 0 else { throw NetnsError.errno("create TAP device \(name)", -fd) }
        return fd
    }
}
