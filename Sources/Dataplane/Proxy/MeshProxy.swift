import NIOCore

/// A MeshLab proxy process as the control plane and the admin ports see it: a ztunnel, a waypoint
/// or a sidecar. Each takes config pushes, shows what it holds, and serves its metrics.
public protocol MeshProxy: AnyObject, Sendable {
    /// Takes a pushed update (identities, config), and starts or stops serving what it names.
    func apply(_ update: ZTunnelUpdate) -> EventLoopFuture<Void>
    func dump() -> EventLoopFuture<ZTunnelDump>
    /// Prometheus text for 15020 `/metrics`.
    func renderMetrics() -> String
}
