/// How traffic reaches a proxy, which decides where its sockets live.
public enum CaptureMode: Sendable {
    /// In-pod: listeners inside each served pod's netns, connections made from there.
    case inPod
    /// Node level (iptables or eBPF), and a waypoint in its pod: transparent listeners in one netns;
    /// upstream connections from there too, with the workload's address as source.
    case node(netns: String)

    /// Where connections for `workload` are made from, and with which source address.
    func placement(for workload: Workload) -> (netns: String, source: String?) {
        switch self {
        case .inPod: (workload.netns, nil)
        case .node(let netns): (netns, workload.address)
        }
    }
}
