/// eBPF redirection (Istio 1.20's shape): tc programs on each ambient pod's host veth steer its
/// packets to ztunnel, whose own programs assign them to its transparent sockets. The programs are
/// compiled and loaded by each node's redirector (Dataplane's `Redirector/`), which attaches them
/// when `up` asks, in the order listed here.
public enum EBPFRedirection {
    /// The mark `ztunnel_tproxy` sets on packets it assigned to a ztunnel socket (as TPROXY's mark does).
    public static let assignedMark: UInt32 = 0x400
    static let markMask: UInt32 = 0xfff
    static let routingTable: UInt32 = 100
    static let rulePriority: UInt32 = 32764

    /// Inside ztunnel's netns: what a program assigned to a socket is delivered locally whatever its
    /// destination; reverse-path filtering would drop it.
    public static func ztunnelOps() -> [KernelOp] {
        [
            .sysctl(key: "net.ipv4.conf.all.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.default.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.eth0.rp_filter", value: "0"),
            .rule(priority: rulePriority, fwmark: assignedMark, mask: markMask, table: routingTable),
            .localDelivery(table: routingTable),
        ]
    }

    /// ztunnel's programs: on the node's end of its veth (what ztunnel sends toward pods) and on its
    /// own eth0 (what arrives for it, assigned to its listeners).
    public static func ztunnelAttachments(nodeNetns: String, ztunnelVeth: String, ztunnelNetns: String, ztunnelInterface: String) -> [BPFAttachment] {
        [
            BPFAttachment(program: "ztunnel_host_ingress", netns: nodeNetns, device: ztunnelVeth, ingress: true),
            BPFAttachment(program: "ztunnel_tproxy", netns: ztunnelNetns, device: ztunnelInterface, ingress: true),
        ]
    }

    /// A captured pod's programs on its host veth: what it sends (`app_outbound`) and what it receives (`app_inbound`).
    public static func podAttachments(nodeNetns: String, hostVeth: String) -> [BPFAttachment] {
        [
            BPFAttachment(program: "app_outbound", netns: nodeNetns, device: hostVeth, ingress: true),
            BPFAttachment(program: "app_inbound", netns: nodeNetns, device: hostVeth, ingress: false),
        ]
    }
}
