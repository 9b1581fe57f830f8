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

extension ZTunnel {
    /// Where a request a proxy on `leg` handles for `proxied` goes next; nil when nowhere.
    func upstream(on leg: ProxyLeg, of proxied: Workload, to target: L7Proxy.Target, sourceIP: String) -> Upstream? {
        switch leg {
        case .waypoint:
            guard let (destination, port) = destination(of: target) else { return nil }
            let address = "\(destination.address):\(port)"
            return destination.tunnel == .hbone
                ? Upstream(workload: destination, carrier: .hbone(destination, authority: address))
                : Upstream(workload: destination, carrier: .plain(host: destination.address, port: port, netns: socketPlacement(for: proxied).netns, source: nil))
        case .sidecarOutbound:
            switch route(from: proxied, to: target.ip, port: target.port) {
            case .refuse, .selfCall: return nil
            case .hbone(let next, let authority, _): return Upstream(workload: next, carrier: .hbone(next, authority: authority))
            case .passthrough(let host, let port, let workload, _):
                return Upstream(workload: workload, carrier: .plain(host: host, port: port, netns: proxied.netns, source: nil))
            }
        case .sidecarInbound:
            // To the app beside the sidecar, from the caller's own address (the pod sees who called).
            return Upstream(workload: proxied, carrier: .plain(host: target.ip, port: target.port, netns: proxied.netns, source: sourceIP))
        }
    }


    /// A connection to `upstream` for the proxy serving `proxied`, paused behind a `Holdback`: an
    /// HBONE stream (which pooled HBONE connection carries it), or plain TCP.
    func openUpstream(_ upstream: Upstream, from proxied: Workload, downstream: Channel, id: String)
        -> (channel: EventLoopFuture<Channel>, hboneConnection: String?)
    {
        switch upstream.carrier {
        case .hbone(let next, let authority):
            let tunnel = openTunnel(from: proxied, to: next, authority: authority, downstream: downstream, id: id)
            return (tunnel.tunnel, tunnel.connection)
        case .plain(let host, let port, let netns, let source):
            return (connectPlain(netns: netns, host: host, port: port, source: source), nil)
        }
    }
}
