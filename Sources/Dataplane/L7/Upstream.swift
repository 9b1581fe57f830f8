import NIOCore

/// Where one request goes next, and how it is carried there.
struct Upstream {
    enum Carrier {
        /// An HBONE stream to this workload's 15008 (its ztunnel, its sidecar, or a waypoint).
        case hbone(Workload, authority: String)
        /// Plain TCP from inside `netns` (a sidecar's pod, or a pod outside the ambient mesh).
        case plain(host: String, port: Int, netns: String, source: String?)
    }

    /// The workload that answers, when it is in the mesh (for logs and metrics).
    var workload: Workload?
    var carrier: Carrier

    var port: Int {
        switch carrier {
        case .hbone(_, let authority): Int(authority.split(separator: ":").last ?? "") ?? 0
        case .plain(_, let port, _, _): port
        }
    }

    /// Where it goes, as logs say it (`upstream.host`) and as connections are kept.
    var key: String {
        switch carrier {
        case .hbone(_, let authority): authority
        case .plain(let host, let port, _, _): "\(host):\(port)"
        }
    }
}

/// Opens the connection a request goes over: an HBONE stream from the proxy's pool, or plain TCP.
struct UpstreamOpener {
    let pool: HBONEClientPool
    let forwarder: Forwarder

    /// A connection to `upstream` for the proxy serving `proxied`, paused behind a `Holdback`: an
    /// HBONE stream (which pooled HBONE connection carries it), or plain TCP.
    func open(_ upstream: Upstream, from proxied: Workload, downstream: Channel, id: String)
        -> (channel: EventLoopFuture<Channel>, hboneConnection: String?)
    {
        switch upstream.carrier {
        case .hbone(let next, let authority):
            let tunnel = pool.openTunnel(from: proxied, to: next, authority: authority, downstream: downstream, id: id)
            return (tunnel.tunnel, tunnel.connection)
        case .plain(let host, let port, let netns, let source):
            return (forwarder.connect(netns: netns, host: host, port: port, source: source), nil)
        }
    }
}
