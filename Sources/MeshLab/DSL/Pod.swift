/// A pod: its own network namespace with one veth to its node, running one bundled app.
public struct Pod: Codable, Hashable, Sendable {
    public var name: String
    public var serviceAccount: String
    public var labels: [String: String]
    /// The node it runs on; nil lets MeshLab spread pods over nodes in declaration order.
    public var node: String?
    public var app: App
    public var at: SourceLocation

    public init(
        _ name: String,
        serviceAccount: String? = nil,
        labels: [String: String]? = nil,
        node: String? = nil,
        app: App = .none,
        file: String = #filePath, line: Int = #line
    ) {
        self.name = name
        self.serviceAccount = serviceAccount ?? "default"
        self.labels = labels ?? ["app": name]
        self.node = node
        self.app = app
        self.at = SourceLocation(file: file, line: line)
    }
}

/// What runs in a pod. Apps are MeshLab's own, started inside the pod's netns.
public enum App: Codable, Hashable, Sendable {
    /// Nothing runs; the pod is a bare host.
    case none
    /// A client pod (like `sleep`): calls are made from it with `meshlab exec … -- meshlab client`.
    case client
    /// An echo server answering HTTP/1.1, h2c and raw TCP on each port with who it is and what it saw.
    case echo(ports: [Int])
    /// MeshLab's L7 proxy as a waypoint: HBONE in on 15008, L7 policy, HBONE out to the destination.
    case waypoint

    public var ports: [Int] {
        if case .echo(let ports) = self { return ports }
        return []
    }
}

/// A waypoint (Istio's waypoint Gateway): a pod running MeshLab's L7 proxy with its own identity
/// (service account = its name).
/// - For a namespace: `Namespace("x", mode: .ambient, waypoint: "waypoint") { Waypoint("waypoint") }`;
///   traffic to the namespace's services and workloads goes through it.
/// - For a service account: `Waypoint("reviews-waypoint", for: "reviews")`; traffic to workloads
///   running as `reviews` goes through it, ahead of any namespace waypoint.
/// - `inbound: .proxy()` puts it behind its node's ztunnel instead of taking HBONE itself (see
///   `WaypointInbound`).
public func Waypoint(_ name: String, for serviceAccount: String? = nil, node: String? = nil, inbound: WaypointInbound = .hbone,
                     file: String = #filePath, line: Int = #line) -> Pod {
    var labels = ["gateway.networking.k8s.io/gateway-name": name]
    labels[Pod.waypointServiceAccountLabel] = serviceAccount
    if case .proxy(let port) = inbound { labels[Pod.waypointInboundBindingLabel] = "PROXY/\(port)" }
    return Pod(name, serviceAccount: name, labels: labels, node: node, app: .waypoint, file: file, line: line)
}

/// How a waypoint takes its traffic (Istio's `ambient.istio.io/waypoint-inbound-binding`).
public enum WaypointInbound: Hashable, Sendable {
    /// HBONE on its own 15008, outside ztunnel's capture (the default).
    case hbone
    /// In the ambient mesh behind its node's ztunnel, which ends HBONE for it and hands it each
    /// connection on `port` after a PROXY protocol v2 header naming the caller: its address, and its
    /// SPIFFE identity in TLV 0xD0 (ztunnel's application tunnel; the waypoint needs no HBONE).
    case proxy(port: Int = 15088)
}

extension Pod {
    /// The label (Istio 1.18's Gateway annotation) naming the service account a waypoint serves.
    public static let waypointServiceAccountLabel = "istio.io/for-service-account"
    /// The label carrying a waypoint's inbound binding, `PROXY/<port>` (Istio's annotation of that name).
    public static let waypointInboundBindingLabel = "ambient.istio.io/waypoint-inbound-binding"

    /// For a waypoint pod: the service account it serves, nil for a namespace waypoint.
    public var waypointServiceAccount: String? { app == .waypoint ? labels[Self.waypointServiceAccountLabel] : nil }

    /// For a waypoint behind ztunnel: the port it takes PROXY protocol on.
    public var waypointProxyPort: Int? { app == .waypoint ? Self.proxyPort(labels) : nil }

    static func proxyPort(_ labels: [String: String]) -> Int? {
        guard let binding = labels[waypointInboundBindingLabel], binding.hasPrefix("PROXY/") else { return nil }
        return Int(binding.dropFirst("PROXY/".count))
    }
}
