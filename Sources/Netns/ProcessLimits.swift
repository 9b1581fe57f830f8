import CSyscalls
import Glibc

/// Proxies and load generators hold two descriptors per connection: lift the soft limit to the hard one.
public func raiseOpenFileLimit() {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
}

/// Long-running proxies: few malloc arenas for a handful of threads (each arena keeps its own free
/// memory), and a way to hand what a burst freed back to the kernel.
public enum ProcessMemory {
    public static func limitArenas(_ count: Int32) { _ = meshlab_malloc_limit_arenas(count) }
    public static func releaseFree() { _ = meshlab_malloc_release_free() }
}
