import CNetfilter
import Glibc
import Netns

/// One connection as the kernel's connection tracker holds it, read over netlink (libnl-nf):
/// the tuple the first packet had, the tuple replies come back with (which shows any NAT, such
/// as a REDIRECT to ztunnel's 15001), the mark, and the per-direction packet counters.
public struct ConntrackEntry: Codable, Hashable, Sendable, CustomStringConvertible {
    public struct Tuple: Codable, Hashable, Sendable {
        public var source: String
        public var destination: String
        public var sourcePort: Int
        public var destinationPort: Int
    }

    /// IP protocol number (6 TCP, 17 UDP).
    public var ipProtocol: Int
    public var original: Tuple
    public var reply: Tuple
    public var tcpState: String?
    public var mark: UInt32
    /// Packets and bytes each way; zero unless `net.netfilter.nf_conntrack_acct` is on in the netns.
    public var originalPackets: Int
    public var replyPackets: Int
    public var originalBytes: Int
    public var replyBytes: Int

    /// Replies come from somewhere other than where the first packet was sent: the connection was NATed.
    public var translated: Bool {
        reply.source != original.destination || reply.sourcePort != original.destinationPort
    }

    public var packets: Int { originalPackets + replyPackets }

    public var description: String {
        let nat = translated ? ", replies from \(reply.source):\(reply.sourcePort) (NAT)" : ""
        let name = [6: "tcp", 17: "udp", 1: "icmp"][ipProtocol] ?? "proto \(ipProtocol)"
        return "\(name) \(original.source):\(original.sourcePort) → \(original.destination):\(original.destinationPort)\(nat)"
            + " \(tcpState ?? "") mark 0x\(String(mark, radix: 16)) packets \(originalPackets)/\(replyPackets)"
    }
}

public enum Conntrack {
    /// Every entry in the netns's conntrack table.
    public static func dump(in netns: String) throws -> [ConntrackEntry] {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) { try dumpHere() }
        }
    }

    /// The sysctl that makes conntrack count packets and bytes per connection.
    public static let accountingSysctl = "net/netfilter/nf_conntrack_acct"

    /// Reads the table of the calling thread's netns (the netlink socket binds to it when opened).
    static func dumpHere() throws -> [ConntrackEntry] {
        guard let socket = nl_socket_alloc() else { throw NetnsError("allocate a netlink socket for conntrack") }
        defer { nl_socket_free(socket) }
        var rc = nfnl_connect(socket)
        guard rc >= 0 else { throw NetnsError("connect to netfilter netlink: \(String(cString: nl_geterror(rc)))") }
        var cache: OpaquePointer?
        rc = nfnl_ct_alloc_cache(socket, &cache)
        guard rc >= 0, let cache else { throw NetnsError("dump conntrack: \(String(cString: nl_geterror(rc)))") }
        defer { nl_cache_free(cache) }
        var entries: [ConntrackEntry] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            entries.append(entry(current))
            object = nl_cache_get_next(current)
        }
        return entries
    }

    private static func entry(_ ct: OpaquePointer) -> ConntrackEntry {
        func tuple(_ reply: Int32) -> ConntrackEntry.Tuple {
            .init(source: address(nfnl_ct_get_src(ct, reply)), destination: address(nfnl_ct_get_dst(ct, reply)),
                  sourcePort: Int(nfnl_ct_get_src_port(ct, reply)), destinationPort: Int(nfnl_ct_get_dst_port(ct, reply)))
        }
        let ipProtocol = Int(nfnl_ct_get_proto(ct))
        var state: String?
        if ipProtocol == 6 {
            var buffer = [CChar](repeating: 0, count: 32)
            state = String(cString: nfnl_ct_tcp_state2str(nfnl_ct_get_tcp_state(ct), &buffer, buffer.count))
        }
        return ConntrackEntry(
            ipProtocol: ipProtocol, original: tuple(0), reply: tuple(1), tcpState: state, mark: nfnl_ct_get_mark(ct),
            originalPackets: Int(nfnl_ct_get_packets(ct, 0)), replyPackets: Int(nfnl_ct_get_packets(ct, 1)),
            originalBytes: Int(nfnl_ct_get_bytes(ct, 0)), replyBytes: Int(nfnl_ct_get_bytes(ct, 1)))
    }

    private static func address(_ address: OpaquePointer?) -> String {
        guard let address, nl_addr_get_len(address) == 4, let bytes = nl_addr_get_binary_addr(address) else { return "?" }
        let octets = bytes.assumingMemoryBound(to: UInt8.self)
        return (0..<4).map { String(octets[$0]) }.joined(separator: ".")
    }
}
