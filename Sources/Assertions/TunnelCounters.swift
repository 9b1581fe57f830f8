import Dataplane
import Foundation
import Glibc
import Netns

/// Frames a node's Geneve tunnel carried into ztunnel during the calls (node-level iptables mode):
/// `istioout` (VNI 1001) for traffic leaving enrolled pods, `istioin` (VNI 1000) for traffic to them.
public struct TunnelHit: Sendable {
    public var node: String
    public var device: String
    public var vni: UInt32
    public var frames: Int
}

/// The userspace Geneve endpoint's counters, read from the node's redirector.
public enum TunnelCounters {
    public static func read(lab: String, node: String) throws -> GeneveEndpoint.Counters {
        let path = LabPaths.redirectorSocket(lab: lab, node: node)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetnsError.errno("socket for \(path)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        _ = withUnsafeMutableBytes(of: &address.sun_path) { strncpy($0.baseAddress!.assumingMemoryBound(to: CChar.self), path, $0.count - 1) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw NetnsError.errno("read the redirector's counters at \(path)") }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return try JSONDecoder().decode(GeneveEndpoint.Counters.self, from: data)
    }

    /// Frames the node's end encapsulated into each tunnel between two readings.
    public static func moved(node: String, from before: GeneveEndpoint.Counters, to after: GeneveEndpoint.Counters) -> [TunnelHit] {
        NodeRedirection.tunnels.compactMap { tunnel in
            let key = "node:\(tunnel.vni)"
            let frames = (after.encapsulated[key] ?? 0) - (before.encapsulated[key] ?? 0)
            return frames > 0 ? TunnelHit(node: node, device: tunnel.nodeDevice, vni: tunnel.vni, frames: frames) : nil
        }
    }
}
