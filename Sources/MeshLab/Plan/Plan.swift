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
    /// The redirection mode every redirection step below comes from.
    public var redirect: RedirectionMode
    /// Phase 4: traffic redirection, the mode's devices, rule sets, marks and routes, in order per
    /// netns (netns in parallel): node-level setup first, then each captured pod.
    public var redirection: [NetnsOps]
    /// Phase 5: the bundled processes: apps, one ztunnel per node, and in node-level modes one redirector per node.
    public var processes: [ProcessSpec]
    /// Phase 6: eBPF mode, what each node's redirector (which holds the loaded programs) attaches
    /// to tc hooks and records in its maps, once it runs.
    public var redirectorCalls: [RedirectorCall]
    /// Phase 7: the mesh config pushed to each ztunnel (by node), once all are running.
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
