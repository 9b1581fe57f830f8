import Dataplane
import MeshLab

/// Frames a node's Geneve tunnel carried into ztunnel during the calls (node-level iptables mode):
/// `istioout` (VNI 1001) for traffic leaving enrolled pods, `istioin` (VNI 1000) for traffic to them.
public struct TunnelHit: Sendable {
    public var node: String
    public var device: String
    public var vni: UInt32
    public var frames: Int
}

/// How many times a node's eBPF programs did one thing during the calls (eBPF mode), e.g.
/// `outbound_redirected` (app_outbound sent a pod's packet to ztunnel) or `established_assigned`.
public struct ProgramHit: Sendable {
    public var node: String
    public var counter: String
    public var count: Int
}

/// Node-level evidence from the node's redirector: its Geneve endpoint's or eBPF programs' counters.
public enum TunnelCounters {
    public static func read(socket: String) throws -> RedirectorReport {
        try RedirectorControl.request(at: socket)
    }

    /// What moved between two readings of a node's redirector.
    public static func moved(node: String, from before: RedirectorReport, to after: RedirectorReport) -> (tunnels: [TunnelHit], programs: [ProgramHit]) {
        let tunnels = moved(node: node, from: before.geneve ?? .init(), to: after.geneve ?? .init())
        let programs = (after.ebpf ?? [:]).sorted { $0.key < $1.key }.compactMap { counter, value -> ProgramHit? in
            let delta = Int(value) - Int(before.ebpf?[counter] ?? 0)
            return delta > 0 ? ProgramHit(node: node, counter: counter, count: delta) : nil
        }
        return (tunnels, programs)
    }

    /// Frames the node's end encapsulated into each tunnel between two readings.
    static func moved(node: String, from before: GeneveEndpoint.Counters, to after: GeneveEndpoint.Counters) -> [TunnelHit] {
        NodeIptablesRedirection.tunnels.compactMap { tunnel in
            let key = "node:\(tunnel.vni)"
            let frames = (after.encapsulated[key] ?? 0) - (before.encapsulated[key] ?? 0)
            return frames > 0 ? TunnelHit(node: node, device: tunnel.nodeDevice, vni: tunnel.vni, frames: frames) : nil
        }
    }
}
