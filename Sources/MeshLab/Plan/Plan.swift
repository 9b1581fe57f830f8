/// Everything `up` does to the kernel and which processes it starts, in order.
///
/// Phases run one after another; the entries of a phase touch different netns and run in parallel.
public struct Plan: Codable, Hashable, Sendable {
    public var lab: String
    /// The alias every netns of the lab carries on `lo` (see `Naming.marker`).
    public var marker: String
    /// Phase 1: create each netns, mark it, bring `lo` up, set its sysctls.
    public var namespaces: [NetnsSetup]
    /// Phase 2: links, each created from inside one netns (a veth's peer goes straight into its own netns).
    public var links: [NetnsOps]
    /// Phase 3: addresses and routes, once every link exists.
    public var addressing: [NetnsOps]
    /// Phase 4: traffic redirection: node-level setup first (tunnels, rules), then per ambient pod.
    public var redirection: [Redirection]
    /// Phase 5: the bundled processes: apps, one ztunnel per node, and in node-level modes one redirector per node.
    public var processes: [ProcessSpec]
    /// Phase 6: the mesh config pushed to each ztunnel (by node), once all are running.
    public var ztunnelNodes: [String]

    /// Every netns the lab owns, in creation order.
    public var netnsNames: [String] { namespaces.map(\.name) }
}

public struct NetnsSetup: Codable, Hashable, Sendable {
    public var name: String
    public var sysctls: [Sysctl]
}

public struct Sysctl: Codable, Hashable, Sendable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// Operations to run from inside one netns, in order.
public struct NetnsOps: Codable, Hashable, Sendable {
    public var netns: String
    public var ops: [NetOp]
}

public enum NetOp: Codable, Hashable, Sendable {
    /// A Linux bridge, created up.
    case bridge(name: String, alias: String)
    /// A veth pair; `peer` is created directly inside `peerNetns`, down until an `up` op there.
    case veth(name: String, alias: String, peer: String, peerNetns: String, master: String?)
    case up(device: String)
    case address(device: String, cidr: String)
    /// A route to `destination` (nil = default) via `gateway`, or on-link through `device` when gateway is nil.
    case route(destination: String?, gateway: String?, device: String)
}

/// Redirection to set up, each in one netns.
public enum Redirection: Codable, Hashable, Sendable {
    /// In-pod mode: rules and policy routing inside an ambient pod's netns; inbound by REDIRECT, or
    /// by TPROXY behind a conntrack ESTABLISHED rule (the older form).
    case inPod(netns: String, pod: String, tproxy: Bool)
    /// Node iptables mode, on a node: the Geneve tunnels to ztunnel's netns, the pod ipset, marks and
    /// policy routing; inside ztunnel's netns: the tunnel ends, TPROXY rules and local delivery.
    case nodeIptables(node: String, netns: String, ztunnelNetns: String, ztunnelIP: String, ztunnelVeth: String)
    /// Node iptables mode: an ambient pod enrolled on its node (ipset entry, route into `istioin`).
    case enroll(netns: String, pod: String, ip: String)
    /// eBPF mode, inside ztunnel's netns: packets the programs assign to its sockets (mark 0x400) are
    /// delivered locally. (The programs themselves are the redirector's, attached when it starts.)
    case ebpfZTunnel(netns: String)

    public var netns: String {
        switch self {
        case .inPod(let netns, _, _), .nodeIptables(_, let netns, _, _, _), .enroll(let netns, _, _), .ebpfZTunnel(let netns): netns
        }
    }
}

/// A long-lived process started inside a netns. `arguments` follow the `meshlab` binary.
public struct ProcessSpec: Codable, Hashable, Sendable {
    /// Unique within the lab, e.g. `echo-ambient-httpbin`; names its log file.
    public var name: String
    public var netns: String
    public var arguments: [String]

    public init(name: String, netns: String, arguments: [String]) {
        self.name = name
        self.netns = netns
        self.arguments = arguments
    }
}
