import Foundation

/// Where a running lab keeps its files, and what its processes are called: the planner names the
/// processes and their sockets, the runtime finds them again by the same names.
extension Naming {
    /// Every lab's state directory lives under this root (`MESHLAB_STATE_DIR` moves it, for tests).
    public static let stateRoot = ProcessInfo.processInfo.environment["MESHLAB_STATE_DIR"] ?? "/run/meshlab"

    /// /run/meshlab/<lab>: spec, topology, plan, state, certificates, sockets and logs of one lab.
    public static func stateDirectory(lab: String) -> String { "\(stateRoot)/\(lab)" }

    // MARK: processes (each names its log file, logs/<process>.log)

    public static func ztunnelProcess(node: String) -> String { "ztunnel-\(node)" }
    public static func redirectorProcess(node: String) -> String { "redirector-\(node)" }
    public static func echoProcess(pod: String) -> String { "echo-\(dashed(pod))" }
    /// A waypoint or sidecar (`role`) of pod `namespace/name`.
    public static func proxyProcess(role: ProxyRole, pod: String) -> String { "\(role.rawValue)-\(dashed(pod))" }

    // MARK: control sockets

    /// The unix socket a node's ztunnel takes config pushes on.
    public static func ztunnelConfigSocket(lab: String, node: String) -> String { "\(stateDirectory(lab: lab))/\(ztunnelProcess(node: node)).sock" }
    /// The unix socket a node's redirector answers enrollment and counter requests on.
    public static func redirectorSocket(lab: String, node: String) -> String { "\(stateDirectory(lab: lab))/\(redirectorProcess(node: node)).sock" }
    /// The unix socket a waypoint or sidecar takes config pushes on.
    public static func proxyConfigSocket(lab: String, role: ProxyRole, pod: String) -> String {
        "\(stateDirectory(lab: lab))/\(proxyProcess(role: role, pod: pod)).sock"
    }

    /// The L7 proxies that run as their own process, one per pod.
    public enum ProxyRole: String, Codable, Sendable {
        case waypoint, sidecar
    }

    /// `namespace/name` as one file-name part.
    private static func dashed(_ pod: String) -> String { pod.replacingOccurrences(of: "/", with: "-") }
}
