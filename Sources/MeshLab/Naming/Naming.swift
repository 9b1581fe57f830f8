/// How a lab's kernel objects are named and marked, so a residue scan finds exactly what a lab made.
public enum Naming {
    public static let underlaySuffix = "underlay"
    /// Every network namespace MeshLab creates carries this alias on its loopback device.
    public static let markerPrefix = "meshlab:"

    public static func marker(lab: String) -> String { markerPrefix + lab }
    /// The lab a marker names, or nil when it is not MeshLab's.
    public static func lab(fromMarker alias: String) -> String? {
        alias.hasPrefix(markerPrefix) ? String(alias.dropFirst(markerPrefix.count)) : nil
    }

    public static func netns(lab: String, _ suffix: String) -> String { "\(lab)-\(suffix)" }
    public static func underlayNetns(lab: String) -> String { netns(lab: lab, underlaySuffix) }
    public static func nodeNetns(lab: String, node: String) -> String { netns(lab: lab, node) }
    public static func podNetns(lab: String, namespace: String, pod: String) -> String { netns(lab: lab, "\(namespace)-\(pod)") }

    public static func ztunnelNetns(lab: String, node: String) -> String { netns(lab: lab, "ztunnel-\(node)") }
    public static func ztunnelVeth(nodeIndex: Int) -> String { "ztunnel\(nodeIndex)" }

    /// The underlay bridge, in the underlay netns.
    public static let underlayBridge = "br0"
    /// A node's link to the underlay, inside the node netns; its peer on the bridge is `node<i>`.
    public static let nodeUplink = "eth0"
    public static func underlayPort(nodeIndex: Int) -> String { "node\(nodeIndex)" }
    /// A pod's interface inside the pod, and its peer on the node (≤ 15 characters, like Linux wants).
    public static let podInterface = "eth0"
    public static func hostVeth(podIndex: Int) -> String { "veth\(podIndex)" }
}
