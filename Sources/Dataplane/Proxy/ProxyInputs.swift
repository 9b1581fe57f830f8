import NIOCore
import NIOPosix

/// What every part of a proxy process shares (ztunnel's `ProxyInputs`): its event loop and the
/// threads for blocking connects, the pushed config and identities, telemetry, connection ids, and
/// the sockets it opened itself. All state lives on the one event loop.
final class ProxyInputs: @unchecked Sendable {
    let eventLoop: EventLoop
    let pool: NIOThreadPool
    let connectTimeout = TimeAmount.seconds(10)
    let ids: ConnectionIDs
    let log = AccessLog()
    let metrics = TCPMetrics()
    /// Trace ids of CONNECTs, and the `x-request-id`s L7 proxies add.
    let randomIDs = RandomIDs()
    /// This process's plain upstream sockets, so its listeners can refuse their own traffic (SelfCall).
    let own = OwnConnections()

    var mesh: MeshIndex?
    var config: MeshConfig? { mesh?.config }
    var tls: MeshTLS?

    init(name: String, generation: Int = 1, eventLoop: EventLoop, pool: NIOThreadPool) {
        ids = ConnectionIDs(name: name, generation: generation)
        self.eventLoop = eventLoop
        self.pool = pool
    }

    /// The process's name as it reads in logs and dumps (`node-a`, `waypoint ns/pod`).
    var name: String { ids.name }

    func nextID() -> String { ids.next() }

    func identity(of workload: Workload) -> SpiffeID {
        workload.identity(trustDomain: config?.trustDomain ?? "cluster.local")
    }

    /// Takes a pushed update's identities and config (the mesh root once, certificates every time).
    func install(_ update: ZTunnelUpdate) throws {
        if tls == nil { tls = try MeshTLS(trustDomain: update.config.trustDomain, rootPEM: update.rootPEM) }
        tls!.install(update.certificates)
        mesh = MeshIndex(update.config)
    }
}
