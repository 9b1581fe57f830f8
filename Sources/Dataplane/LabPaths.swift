import Foundation

/// Where a running lab keeps its files; shared by the orchestrator and the bundled processes.
public enum LabPaths {
    public static let root = ProcessInfo.processInfo.environment["MESHLAB_STATE_DIR"] ?? "/run/meshlab"

    /// The unix socket a node's ztunnel takes config pushes on.
    public static func ztunnelConfigSocket(lab: String, node: String) -> String { "\(root)/\(lab)/ztunnel-\(node).sock" }
}

extension LabPaths {
    /// The unix socket a node's redirector answers counter requests on.
    public static func redirectorSocket(lab: String, node: String) -> String { "\(root)/\(lab)/redirector-\(node).sock" }
}

extension LabPaths {
    /// The unix socket a waypoint or sidecar (`role`) of pod `namespace/name` takes config pushes on.
    public static func proxyConfigSocket(lab: String, role: String, pod: String) -> String {
        "\(root)/\(lab)/\(role)-\(pod.replacingOccurrences(of: "/", with: "-")).sock"
    }
}
