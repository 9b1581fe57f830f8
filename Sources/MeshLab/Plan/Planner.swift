extension Plan {
    /// Turns a topology into kernel operations and process specs. Pure: no kernel calls.
    public init(_ topology: Topology) {
        self.init(topology, pods: topology.pods, infrastructure: true)
    }

    /// What to add to a running lab for `ids` (pods `apply` adds): their netns, veths, routes,
    /// redirection and apps; nothing of the nodes, underlay or ztunnels, which already exist.
    public init(_ topology: Topology, addingPods ids: Set<String>) {
        self.init(topology, pods: topology.pods.filter { ids.contains($0.id) }, infrastructure: false)
    }

    private init(_ topology: Topology, pods: [Topology.PodInfo], infrastructure: Bool) {
        let lab = topology.lab
        let marker = Naming.marker(lab: lab)
        self.lab = lab
        self.marker = marker

        let routerSysctls = [
            Sysctl(key: "net.ipv4.ip_forward", value: "1"),
            Sysctl(key: "net.ipv4.conf.all.rp_filter", value: "0"),
            Sysctl(key: "net.ipv4.conf.default.rp_filter", value: "0"),
        ]
        // Deep accept queues, so a burst of thousands of connections queues instead of being dropped;
        // conntrack counts packets per connection, the evidence for fast-path checks.
        let podSysctls = [Sysctl(key: "net.core.somaxconn", value: "65535"), Sysctl(key: "net.netfilter.nf_conntrack_acct", value: "1")]
        let ztunnels = infrastructure ? topology.ztunnels : []
        let nodes = infrastructure ? topology.nodes : []
        namespaces = (infrastructure ? [NetnsSetup(name: topology.underlay.netns, sysctls: [])] : [])
            + nodes.map { NetnsSetup(name: $0.netns, sysctls: routerSysctls) }
            + pods.map { NetnsSetup(name: $0.netns, sysctls: podSysctls) }
            + ztunnels.map { NetnsSetup(name: $0.netns, sysctls: podSysctls) }

        // The underlay netns owns the bridge and one veth per node, whose other end is the node's eth0.
        let underlayBridge = topology.underlay.bridge
        links = infrastructure ? [NetnsOps(netns: topology.underlay.netns, ops: [.bridge(name: underlayBridge, alias: marker)] + topology.nodes.map {
            .veth(name: $0.underlayPort, alias: "\(marker):\($0.name)", peer: Naming.nodeUplink, peerNetns: $0.netns, master: underlayBridge)
        })] : []
        // Each node netns owns one veth per pod on it, whose other end is the pod's eth0.
        links += topology.nodes.map { node in
            NetnsOps(netns: node.netns, ops: pods.filter { $0.node == node.name }.map {
                .veth(name: $0.hostVeth, alias: "\(marker):\($0.id)", peer: Naming.podInterface, peerNetns: $0.netns, master: nil)
            } + ztunnels.filter { $0.node == node.name }.map {
                .veth(name: $0.hostVeth, alias: "\(marker):ztunnel", peer: Naming.podInterface, peerNetns: $0.netns, master: nil)
            })
        }

        // ptp routing: every host veth holds the node's gateway /32; each pod is a /32 route on its veth;
        // other nodes' pod blocks go via their underlay address.
        addressing = topology.nodes.map { node in
            var ops: [KernelOp] = infrastructure
                ? [.up(device: Naming.nodeUplink), .address(device: Naming.nodeUplink, cidr: "\(node.underlayIP)/\(topology.underlay.cidr.prefix)")]
                : []
            let local = pods.filter { $0.node == node.name }.map { ($0.hostVeth, $0.ip) }
                + ztunnels.filter { $0.node == node.name }.map { ($0.hostVeth, $0.ip) }
            for (veth, ip) in local {
                ops.append(.address(device: veth, cidr: "\(node.gateway)/32"))
                ops.append(.route(destination: "\(ip)/32", gateway: nil, device: veth))
            }
            for other in nodes where other.name != node.name {
                ops.append(.route(destination: other.podCIDR.description, gateway: other.underlayIP.description, device: Naming.nodeUplink))
            }
            return NetnsOps(netns: node.netns, ops: ops)
        }
        let podEnds = pods.map { ($0.netns, $0.node, $0.ip) } + ztunnels.map { ($0.netns, $0.node, $0.ip) }
        addressing += podEnds.map { netns, node, ip in
            let gateway = topology.node(named: node)!.gateway
            return NetnsOps(netns: netns, ops: [
                .up(device: Naming.podInterface),
                .address(device: Naming.podInterface, cidr: "\(ip)/32"),
                .route(destination: "\(gateway)/32", gateway: nil, device: Naming.podInterface),
                .route(destination: nil, gateway: gateway.description, device: Naming.podInterface),
            ])
        }

        let mode = topology.settings.redirect
        redirect = mode
        let redirection = RedirectionSteps(topology, pods: pods, ztunnels: ztunnels, marker: marker)
        self.redirection = redirection.kernel
        redirectorCalls = redirection.redirectorCalls

        processes = pods.compactMap { pod in
            switch pod.app {
            case .echo(let ports):
                ProcessSpec(name: Naming.echoProcess(pod: pod.id), netns: pod.netns,
                            arguments: ["echo", "--lab", lab, "--pod", pod.id, "--node", pod.node] + ports.flatMap { ["--port", String($0)] })
            case .waypoint:
                ProcessSpec(name: Naming.proxyProcess(role: .waypoint, pod: pod.id), netns: pod.netns,
                            arguments: ["waypoint", "--lab", lab, "--pod", pod.id, "--node", pod.node])
            case .none, .client:
                nil
            }
        } + pods.filter { $0.mode == .sidecar }.map { pod in
            ProcessSpec(name: Naming.proxyProcess(role: .sidecar, pod: pod.id), netns: pod.netns,
                        arguments: ["sidecar", "--lab", lab, "--pod", pod.id, "--node", pod.node])
        } + ztunnels.map {
            ProcessSpec(name: Naming.ztunnelProcess(node: $0.node), netns: $0.netns,
                        arguments: ["ztunnel", "--lab", lab, "--node", $0.node, "--redirect", mode.rawValue])
        } + (mode.isInPod ? [] : ztunnels.map { ztunnel in
            // iptables: the userspace Geneve endpoint; ebpf: the programs' loader and map keeper.
            ProcessSpec(name: Naming.redirectorProcess(node: ztunnel.node), netns: topology.node(named: ztunnel.node)!.netns,
                        arguments: ["redirector", "--lab", lab, "--node", ztunnel.node, "--redirect", mode.rawValue,
                                    "--ztunnel-netns", ztunnel.netns, "--ztunnel-ip", ztunnel.ip.description, "--ztunnel-veth", ztunnel.hostVeth,
                                    "--node-ip", topology.node(named: ztunnel.node)!.gateway.description])
        })
        ztunnelNodes = ztunnels.map(\.node)
        links.removeAll { $0.ops.isEmpty }
        addressing.removeAll { $0.ops.isEmpty }
    }
}
