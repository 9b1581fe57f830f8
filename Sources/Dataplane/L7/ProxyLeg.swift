/// Where MeshLab's L7 proxy stands on a request's way, which decides what it does with it.
enum ProxyLeg: Sendable {
    /// A waypoint, on the destination's side: routes, enforces the waypoint's policies, and sends
    /// the request to a destination workload (over HBONE to its ztunnel when it is ambient).
    case waypoint
    /// A sidecar's outbound side (15001): routes at the client unless the service has a waypoint
    /// (which routes instead), authorizes nothing, and sends the request on as the mesh says:
    /// HBONE to an ambient pod or a waypoint, plain TCP to a sidecar's pod or outside the mesh.
    case sidecarOutbound
    /// A sidecar's inbound side (15006): enforces the pod's policies request by request, then
    /// hands the request to the app inside the pod.
    case sidecarInbound

    var direction: String { self == .sidecarOutbound ? "outbound" : "inbound" }

    /// Istio's `reporter` label for the requests this leg counts.
    var reporter: String {
        switch self {
        case .waypoint: "waypoint"
        case .sidecarOutbound: "source"
        case .sidecarInbound: "destination"
        }
    }

    var routes: Bool { self != .sidecarInbound }
}
