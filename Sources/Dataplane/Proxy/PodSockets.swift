import Foundation
import Glibc
import NIOCore
import NIOPosix
import Netns

/// Sockets that live in a pod's netns, as in-pod ztunnel makes them: created on a thread that
/// entered the netns, marked 0x539 so the pod's redirection rules let them through, then handed to NIO.
public enum PodSockets {
    /// SO_MARK on every ztunnel socket (1337): the pod's rules skip marked traffic.
    public static let mark: Int32 = 0x539
    /// Listen backlog, capped by the pod netns' net.core.somaxconn (which labs raise to 65535).
    public static let backlog: Int32 = 65535

    /// A listening socket on 0.0.0.0:`port` inside `netns`; `transparent` accepts connections
    /// for any address (TPROXY delivers them with their original destination).
    public static func listen(netns: String, port: Int, transparent: Bool = false) throws -> CInt {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) {
                let fd = try newSocket()
                var on: Int32 = 1
                // A restarted ztunnel listens beside its draining predecessor until that one lets go.
                setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, 4)
                if transparent, setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, 4) != 0 {
                    close(fd)
                    throw NetnsError.errno("IP_TRANSPARENT on :\(port) in \(netns)")
                }
                var address = sockaddr_in(port: port, address: INADDR_ANY)
                let bound = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard bound == 0, Glibc.listen(fd, backlog) == 0 else {
                    let error = NetnsError.errno("listen on :\(port) in \(netns)")
                    close(fd)
                    throw error
                }
                return fd
            }
        }
    }

    /// Connects from inside `netns` to `host:port`, optionally from a spoofed `source` address
    /// (IP_TRANSPARENT) to preserve the original client address. The socket is made and its connect
    /// started on `pool` (setns is per thread); the wait for the answer is `PendingConnects`', so an
    /// address that never answers holds no thread. Around the connect(2) call itself, on the pool
    /// thread, `connecting` runs just before it and `started` just after, with the socket's local
    /// `ip:port` (nil when the call failed): before the event loop can learn of the connection.
    public static func connect(netns: String, host: String, port: Int, source: String? = nil, timeout: TimeAmount,
                               pool: NIOThreadPool, eventLoop: EventLoop,
                               connecting: @escaping @Sendable () -> Void = {},
                               started: @escaping @Sendable (_ local: String?) -> Void = { _ in }) -> EventLoopFuture<CInt> {
        let what = "connect to \(host):\(port)"
        return pool.runIfActive(eventLoop: eventLoop) {
            try NetworkNamespace.within(netns) {
                let fd = try newSocket()
                do {
                    if let source, let sourceAddress = inetAddress(source) {
                        var on: Int32 = 1
                        guard setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, 4) == 0 else { throw NetnsError.errno("IP_TRANSPARENT") }
                        var local = sockaddr_in(port: 0, address: sourceAddress)
                        let bound = withUnsafePointer(to: &local) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                        }
                        guard bound == 0 else { throw NetnsError.errno("bind to original source \(source)") }
                    }
                    guard let destination = inetAddress(host) else { throw NetnsError("not an IPv4 address: \(host)") }
                    var remote = sockaddr_in(port: port, address: destination)
                    connecting()
                    let status = withUnsafePointer(to: &remote) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                    }
                    let failure = status == 0 || errno == EINPROGRESS ? nil : errno
                    started(failure == nil ? localAddress(fd) : nil)
                    if let failure { throw IOError(errnoCode: failure, reason: what) }
                    return fd
                } catch {
                    close(fd)
                    throw error
                }
            }
        }.flatMap { fd in
            let connected = eventLoop.makePromise(of: CInt.self)
            PendingConnects.shared.wait(for: fd, until: .now() + timeout, what: what, promise: connected)
            return connected.futureResult
        }
    }

    /// NIO calls listen() again, with its default backlog of 128, when it adopts a bound socket;
    /// a second listen() on a listening socket just resizes its queue, so set ours back.
    static func restoreBacklog(_ fd: CInt) {
        _ = Glibc.listen(fd, backlog)
    }

    private static func newSocket() throws -> CInt {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else { throw NetnsError.errno("socket") }
        var on: Int32 = 1
        var mark = Self.mark
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, 4)
        guard setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, 4) == 0 else {
            close(fd)
            throw NetnsError.errno("SO_MARK 0x539")
        }
        return fd
    }

    /// A socket's own address as `ip:port`.
    static func localAddress(_ fd: CInt) -> String? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard status == 0 else { return nil }
        let ip = UInt32(bigEndian: address.sin_addr.s_addr)
        let text = (0..<4).reversed().map { String(ip >> ($0 * 8) & 0xff) }.joined(separator: ".")
        return "\(text):\(UInt16(bigEndian: address.sin_port))"
    }

    static func inetAddress(_ text: String) -> in_addr_t? {
        IPv4Number(text).map { $0.bigEndian }
    }

    /// The destination a REDIRECTed connection was headed for (SO_ORIGINAL_DST), as ip and port.
    public static func originalDestination(_ channel: Channel) -> EventLoopFuture<(String, Int)> {
        guard let provider = channel as? SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(NetnsError("channel has no socket options"))
        }
        return provider.unsafeGetSocketOption(level: .init(rawValue: SOL_IP), name: .init(rawValue: 80))
            .map { (address: sockaddr_in) in
                let ip = UInt32(bigEndian: address.sin_addr.s_addr)
                let text = (0..<4).reversed().map { String(ip >> ($0 * 8) & 0xff) }.joined(separator: ".")
                return (text, Int(UInt16(bigEndian: address.sin_port)))
            }
    }
}

extension sockaddr_in {
    init(port: Int, address: in_addr_t) {
        self.init()
        sin_family = sa_family_t(AF_INET)
        sin_port = UInt16(port).bigEndian
        sin_addr = in_addr(s_addr: address)
    }
}
