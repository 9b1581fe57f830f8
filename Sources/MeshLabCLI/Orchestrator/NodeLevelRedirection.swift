import Dataplane
import Glibc
import MeshLab
import Netns

/// The kernel side of node-level iptables redirection (Istio 1.18): per node, the Geneve tunnel
/// devices at both ends (TAP devices the redirector's userspace Geneve endpoint serves), the pod
/// ipset, the marking rules and policy routing; per ambient pod, its enrollment.
enum NodeLevelRedirection {
    static func setUp(_ step: Redirection, marker: String) throws {
        guard case .nodeIptables(_, let netns, let ztunnelNetns, let ztunnelIP, let ztunnelVeth) = step else { return }
        try NetworkNamespace.within(ztunnelNetns) {
            try tunnelEnds(NodeRedirection.tunnels.map { ($0.ztunnelDevice, $0.ztunnelAddress) }, marker: marker)
            try restore(NodeRedirection.ztunnelRules(ztunnelIP: ztunnelIP), in: ztunnelNetns)
            let socket = try RouteSocket()
            for (priority, mark) in NodeRedirection.ztunnelRuleMarks {
                try socket.addRule(priority: priority, fwmark: mark, mask: NodeRedirection.ztunnelMarkMask, table: NodeRedirection.ztunnelRoutingTable)
            }
            try socket.addRoute(nil, device: "lo", table: NodeRedirection.ztunnelRoutingTable, local: true)
        }
        try NetworkNamespace.within(netns) {
            try tunnelEnds(NodeRedirection.tunnels.map { ($0.nodeDevice, $0.nodeAddress) }, marker: marker)
            let ipset = try NetnsCommand.runHere("ipset", ["create", NodeRedirection.podSet, "hash:ip"])
            guard ipset.status == 0 else { throw NetnsError("ipset create in \(netns) failed: \(ipset.output)") }
            try restore(NodeRedirection.nodeRules(ztunnelIP: ztunnelIP, ztunnelVeth: ztunnelVeth), in: netns)
            let socket = try RouteSocket()
            for rule in NodeRedirection.nodeRules {
                try socket.addRule(priority: rule.priority, fwmark: rule.mark, table: rule.table)
            }
            try socket.addRoute(nil, gateway: NodeRedirection.outbound.ztunnelAddress, device: NodeRedirection.outbound.nodeDevice,
                                table: NodeRedirection.outboundTable)
            try socket.addRoute(nil, gateway: ztunnelIP, device: ztunnelVeth, table: NodeRedirection.proxyReturnTable)
        }
    }

    /// eBPF mode, in ztunnel's netns: what `ztunnel_tproxy` assigned to a socket (mark 0x400) is
    /// delivered locally whatever its destination; reverse-path filtering would drop it.
    static func deliverAssignedLocally(in netns: String) throws {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) {
                for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter", "net.ipv4.conf.eth0.rp_filter"] {
                    try SysctlWriter.write(key, "0")
                }
                let socket = try RouteSocket()
                try socket.addRule(priority: NodeRedirection.ztunnelRuleMarks[0].priority, fwmark: NodeRedirection.tproxyMark,
                                   mask: NodeRedirection.ztunnelMarkMask, table: NodeRedirection.ztunnelRoutingTable)
                try socket.addRoute(nil, device: "lo", table: NodeRedirection.ztunnelRoutingTable, local: true)
            }
        }
    }

    /// eBPF mode: the node's redirector attaches the pod programs and fills `app_info`.
    static func enrollWithRedirectors(_ pods: [Topology.PodInfo], lab: String) throws {
        for (node, local) in Dictionary(grouping: pods.filter { $0.mode == .ambient }, by: \.node) {
            _ = try RedirectorControl.request(lab: lab, node: node, RedirectorRequest(enroll: local.map {
                Enrollment(ip: $0.ip.description, hostVeth: $0.hostVeth, netns: $0.netns)
            }))
        }
    }

    /// Enrolls pods on their node: their addresses join the ipset, and traffic to them goes into `istioin`.
    static func enroll(_ ips: [String], onNode netns: String) throws {
        try NetworkNamespace.within(netns) {
            let batch = ips.map { "add \(NodeRedirection.podSet) \($0) -exist\n" }.joined()
            let ipset = try NetnsCommand.runHere("ipset", ["restore"], input: batch)
            guard ipset.status == 0 else { throw NetnsError("ipset restore in \(netns) failed: \(ipset.output)") }
            let socket = try RouteSocket()
            for ip in ips {
                try socket.addRoute("\(ip)/32", gateway: NodeRedirection.inbound.ztunnelAddress, device: NodeRedirection.inbound.nodeDevice,
                                    table: NodeRedirection.inboundTable)
            }
        }
    }

    /// Releases a pod removed from a running lab.
    static func release(_ ip: String, onNode netns: String) throws {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) {
                _ = try NetnsCommand.runHere("ipset", ["del", NodeRedirection.podSet, ip, "-exist"])
                try RouteSocket().deleteRoute("\(ip)/32", gateway: NodeRedirection.inbound.ztunnelAddress, device: NodeRedirection.inbound.nodeDevice,
                                              table: NodeRedirection.inboundTable)
            }
        }
    }

    /// Persistent TAP devices (the userspace Geneve endpoint attaches to them), up, addressed, with
    /// room for the encapsulation; reverse-path filtering off and local sources accepted, as the tunnels need.
    private static func tunnelEnds(_ ends: [(device: String, address: String)], marker: String) throws {
        for key in ["net.ipv4.conf.all.rp_filter", "net.ipv4.conf.default.rp_filter"] { try SysctlWriter.write(key, "0") }
        try SysctlWriter.write("net.ipv4.conf.all.accept_local", "1")
        let socket = try RouteSocket()
        for (device, address) in ends {
            close(try TapDevice.open(device))
            try socket.setLink(device, up: true, mtu: NodeRedirection.tunnelMTU, alias: "\(marker):\(device)")
            try socket.addAddress("\(address)/\(NodeRedirection.tunnelPrefix)", device: device)
        }
    }

    private static func restore(_ rules: String, in netns: String) throws {
        let restore = try NetnsCommand.runHere("iptables-restore", ["--noflush"], input: rules)
        guard restore.status == 0 else { throw NetnsError("iptables-restore in \(netns) failed: \(restore.output)") }
    }
}
