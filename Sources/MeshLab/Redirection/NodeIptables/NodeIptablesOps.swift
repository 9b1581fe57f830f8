/// What `up` does for node-level iptables redirection, as kernel operations.
extension NodeIptablesRedirection {
    /// Inside ztunnel's netns: its tunnel ends, TPROXY to its listeners, and local delivery of what TPROXY marked.
    public static func ztunnelOps(ztunnelIP: String, marker: String) -> [KernelOp] {
        tunnelEnds(tunnels.map { ($0.ztunnelDevice, $0.ztunnelAddress) }, marker: marker)
            + [.iptablesRestore(rules: ztunnelRules(ztunnelIP: ztunnelIP))]
            + ztunnelRuleMarks.map { .rule(priority: $0.priority, fwmark: $0.mark, mask: ztunnelMarkMask, table: ztunnelRoutingTable) }
            + [.localDelivery(table: ztunnelRoutingTable)]
    }

    /// On a node: its tunnel ends, the pod ipset, the marking rules, and the policy routing that
    /// sends marked traffic into `istioout` and replies of ztunnel's spoofed connections back to it.
    public static func nodeOps(ztunnelIP: String, ztunnelVeth: String, marker: String) -> [KernelOp] {
        tunnelEnds(tunnels.map { ($0.nodeDevice, $0.nodeAddress) }, marker: marker)
            + [.ipsetCreate(name: podSet, type: "hash:ip"), .iptablesRestore(rules: nodeRules(ztunnelIP: ztunnelIP, ztunnelVeth: ztunnelVeth))]
            + nodeRules.map { .rule(priority: $0.priority, fwmark: $0.mark, mask: nil, table: $0.table) }
            + [
                .route(destination: nil, gateway: outbound.ztunnelAddress, device: outbound.nodeDevice, table: outboundTable),
                .route(destination: nil, gateway: ztunnelIP, device: ztunnelVeth, table: proxyReturnTable),
            ]
    }

    /// On a node, for its ambient pods: their addresses join the ipset, and traffic to them goes into `istioin`.
    public static func enrollOps(_ ips: [String]) -> [KernelOp] {
        [.ipsetAdd(name: podSet, entries: ips)]
            + ips.map { .route(destination: "\($0)/32", gateway: inbound.ztunnelAddress, device: inbound.nodeDevice, table: inboundTable) }
    }

    /// TAP devices the redirector's userspace Geneve endpoint serves, with room for the encapsulation;
    /// reverse-path filtering off and local sources accepted, as the tunnels need.
    private static func tunnelEnds(_ ends: [(device: String, address: String)], marker: String) -> [KernelOp] {
        [
            .sysctl(key: "net.ipv4.conf.all.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.default.rp_filter", value: "0"),
            .sysctl(key: "net.ipv4.conf.all.accept_local", value: "1"),
        ] + ends.flatMap { device, address -> [KernelOp] in
            [.tap(name: device, alias: "\(marker):\(device)", mtu: tunnelMTU), .address(device: device, cidr: "\(address)/\(tunnelPrefix)")]
        }
    }
}
