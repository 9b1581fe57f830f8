/// eBPF redirection (Istio 1.20's shape): tc programs on each ambient pod's host veth steer its
/// packets to ztunnel, whose own programs assign them to its transparent sockets. The programs are
/// compiled and loaded by each node's redirector (Dataplane's `Redirector/`), which attaches them
/// when `up` asks, in the order listed here.
public enum EBPFRedirection {
    /// Inside ztunnel's netns: what `ztunnel_tproxy` assigned to a socket carries TPROXY's mark
    /// (0x400) and is delivered locally whatever its destination, as in node-iptables mode;
    /// reverse-path filtering would drop it.
    public static func ztunnelOps() -> [KernelOp] {
        let node = NodeIptablesRedirection.self
        return [
            .sysctl(key: "net.ipv4.conf.all.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.default.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.eth0.rp_filter", value: "0"),
            .rule(priority: node.ztunnelRuleMarks[0].priority, fwmark: node.tproxyMark, mask: node.ztunnelMarkMask, table: node.ztunnelRoutingTable),
            .localDelivery(table: node.ztunnelRoutingTable),
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
