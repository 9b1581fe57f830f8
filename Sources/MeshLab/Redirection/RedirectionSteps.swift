/// A topology's redirection, mode by mode: the kernel operations per netns (node-level setup first,
/// then each captured pod) and, in eBPF mode, what each node's redirector attaches once it runs.
struct RedirectionSteps {
    var kernel: [NetnsOps] = []
    var redirectorCalls: [RedirectorCall] = []

    /// `ztunnels` is empty when pods join a running lab: the node-level setup exists already.
    init(_ topology: Topology, pods: [Topology.PodInfo], ztunnels: [Topology.ZTunnelInfo], marker: String) {
        let ambient = pods.filter { $0.mode == .ambient }
        let nodeNetns = { (node: String) in topology.node(named: node)!.netns }
        switch topology.settings.redirect {
        case .inpod, .inpodTproxy:
            let tproxy = topology.settings.redirect == .inpodTproxy
            kernel = ambient.map { NetnsOps(netns: $0.netns, ops: InPodRedirection.ops(tproxy: tproxy)) }
        case .iptables:
            for ztunnel in ztunnels {
                let ip = ztunnel.ip.description
                kernel.append(NetnsOps(netns: ztunnel.netns, ops: NodeIptablesRedirection.ztunnelOps(ztunnelIP: ip, marker: marker)))
                kernel.append(NetnsOps(netns: nodeNetns(ztunnel.node),
                                       ops: NodeIptablesRedirection.nodeOps(ztunnelIP: ip, ztunnelVeth: ztunnel.hostVeth, marker: marker)))
            }
            for node in topology.nodes {
                let local = ambient.filter { $0.node == node.name }.map(\.ip.description)
                if !local.isEmpty { kernel.append(NetnsOps(netns: node.netns, ops: NodeIptablesRedirection.enrollOps(local))) }
            }
        case .ebpf:
            kernel = ztunnels.map { NetnsOps(netns: $0.netns, ops: EBPFRedirection.ztunnelOps()) }
            for node in topology.nodes {
                let ztunnel = ztunnels.first { $0.node == node.name }
                let local = ambient.filter { $0.node == node.name }
                guard ztunnel != nil || !local.isEmpty else { continue }
                let ztunnelPrograms = ztunnel.map {
                    EBPFRedirection.ztunnelAttachments(nodeNetns: node.netns, ztunnelVeth: $0.hostVeth, ztunnelNetns: $0.netns,
                                                       ztunnelInterface: Naming.podInterface)
                } ?? []
                redirectorCalls.append(RedirectorCall(
                    node: node.name,
                    attach: ztunnelPrograms + local.flatMap { EBPFRedirection.podAttachments(nodeNetns: node.netns, hostVeth: $0.hostVeth) },
                    enroll: local.map { BPFEnrollment(ip: $0.ip.description, hostVeth: $0.hostVeth, netns: $0.netns) }))
            }
        }
        // Sidecar injection's REDIRECT rules (outbound → 15001, inbound → 15006), in every mode: the
        // in-pod ambient rules were modelled on them.
        kernel += pods.filter { $0.mode == .sidecar }.map { NetnsOps(netns: $0.netns, ops: InPodRedirection.ops(tproxy: false)) }
    }
}
