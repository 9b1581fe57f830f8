import Foundation
import Glibc

/// The client end of every control socket of a lab (a ztunnel's, waypoint's or sidecar's config
/// socket, a redirector's): one JSON line out, the reply read until the other end closes.
public enum ControlSocket {
    public struct Unreachable: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot reach \(path): \(reason)" }
    }

    public static func request<Request: Encodable>(_ request: Request, at path: String) throws -> Data {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Unreachable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Unreachable(path: path, reason: "the path is too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in path.utf8CString.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Unreachable(path: path, reason: String(cString: strerror(errno))) }
        let line = try JSONEncoder().encode(request) + Data("\n".utf8)
        try line.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let count = write(fd, bytes.baseAddress! + sent, bytes.count - sent)
                guard count > 0 else { throw Unreachable(path: path, reason: String(cString: strerror(errno))) }
                sent += count
            }
        }
        var reply = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            reply.append(contentsOf: buffer[0..<count])
        }
        return reply
    }
}
