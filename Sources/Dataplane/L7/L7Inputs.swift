import NIOCore

/// What the L7 proxy uses of the process it runs in (a waypoint or a sidecar), and nothing more:
/// telemetry, ids, the route table, the mesh as last pushed, and where its requests go.
struct L7Inputs: @unchecked Sendable {  // used on its process's one event loop
    let log: AccessLog
    let requestMetrics: RequestMetrics
    /// HTTPRoute state (weighted picks, fault counts), kept across requests and config pushes.
    let routes: RouteTable
    let ids: ConnectionIDs
    let randomIDs: RandomIDs
    /// The mesh index of the latest push (it changes between requests).
    let mesh: () -> MeshIndex?
    /// Joins an upgraded (WebSocket) downstream to its upstream, as a tunnel is joined.
    let forwarder: Forwarder
    let opener: UpstreamOpener
    let upstreams: any L7Upstreams

    func identity(of workload: Workload) -> SpiffeID {
        workload.identity(trustDomain: mesh()?.config.trustDomain ?? "cluster.local")
    }
}

/// Where an L7 proxy's requests go and which policies it enforces: what differs between a
/// waypoint and a sidecar.
protocol L7Upstreams: AnyObject {
    /// Where a request the proxy on `leg` handles for `proxied` goes next (a new endpoint pick each
    /// call); nil when nowhere.
    func upstream(on leg: ProxyLeg, of proxied: Workload, to target: L7Proxy.Target, sourceIP: String) -> Upstream?
    /// The authorization policies requests on `leg` are checked against.
    func policies(on leg: ProxyLeg, of proxied: Workload) -> [Authorization]
}
