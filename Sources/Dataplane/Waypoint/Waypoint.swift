import NIOCore
import NIOHPACK
import NIOPosix

/// The waypoint role: HBONE in on 15008 with the waypoint's identity (or, behind ztunnel, plain TCP
/// on its PROXY port, each connection opened by ztunnel's PROXY header); each CONNECT (authority: the
/// original service VIP or workload address and port) is a stream that `L7Proxy` serves request by
/// request in the protocol its client speaks, applying the waypoint's L7 policies and routes and
/// sending each allowed request on to a destination workload (over HBONE to its ztunnel).
extension ZTunnel {
    func listenAsWaypoint(_ uid: String) -> EventLoopFuture<Void> {
        guard captured[uid] == nil, case .node(let netns) = mode, let waypoint = mesh?.workload(uid: uid) else {
            return eventLoop.makeSucceededVoidFuture()
        }
        // Behind ztunnel (PROXY application tunnel): plain TCP on that port, each connection opened by a PROXY header.
        if let port = waypoint.proxyProtocolPort {
            return pool.runIfActive(eventLoop: eventLoop) { try PodSockets.listen(netns: netns, port: port) }
                .flatMap { fd in self.serve(fd) { self.acceptProxied($0, at: uid) } }
                .map { self.captured[uid] = [$0] }
        }
        return pool.runIfActive(eventLoop: eventLoop) { try PodSockets.listen(netns: netns, port: 15008) }
            .flatMap { fd in self.serveHBONE(fd) { _ in self.mesh?.workload(uid: uid) } }
            .map { self.captured[uid] = [$0] }
    }

    func acceptAtWaypoint(_ uid: String, _ headers: HPACKHeaders, stream: Channel, connection: Channel)
        -> EventLoopFuture<HBONEStream.Acceptance>
    {
        let refuse = { (code: Int) in self.eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: code)) }
        let parts = (headers.first(name: ":authority") ?? "").split(separator: ":")
        guard headers.first(name: ":method") == "CONNECT", parts.count == 2, let port = Int(parts[1]) else { return refuse(400) }
        guard let (waypoint, target) = waypointTarget(uid, ip: String(parts[0]), port: port) else { return refuse(503) }
        let peer = try? connection.pipeline.syncOperations.handler(type: PeerIdentityHandler.self).identity
        let source = headers.first(name: "forwarded").flatMap(Self.forwardedFor) ?? connection.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        return eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: 200) {
            do {
                try self.serveAtWaypoint(stream, waypoint: waypoint, peer: peer, source: source, target: target)
                try Holdback.handOver(stream)
            } catch {
                stream.close(promise: nil)
            }
        })
    }

    /// A connection ztunnel handed over with a PROXY header: the caller's address and identity, and
    /// what it asked for, come from the header.
    private func acceptProxied(_ downstream: Channel, at uid: String) {
        do {
            try downstream.pipeline.syncOperations.addHandler(ProxyHeaderDecoder { header, channel in
                guard let (waypoint, target) = self.waypointTarget(uid, ip: header.destination.ip, port: header.destination.port) else {
                    throw HBONEError.notServed
                }
                try self.serveAtWaypoint(channel, waypoint: waypoint, peer: header.identity.flatMap(SpiffeID.init(uri:)),
                                         source: "\(header.source.ip):\(header.source.port)", target: target)
            })
            try Holdback.handOver(downstream)
        } catch {
            downstream.close(promise: nil)
        }
    }

    /// What a request to `ip:port` at waypoint `uid` is for; nil unless that uses this waypoint.
    private func waypointTarget(_ uid: String, ip: String, port: Int) -> (Workload, L7Proxy.Target)? {
        guard let waypoint = mesh?.workload(uid: uid) else { return nil }
        let service = mesh?.service(vip: ip)
        let workload = mesh?.workload(at: ip)
        guard service?.waypoint == uid || (service == nil && workload?.waypoint == uid) else { return nil }
        return (waypoint, L7Proxy.Target(ip: ip, port: port, service: service, workload: workload))
    }

    /// The waypoint speaks what the client speaks: HTTP/1.1, h2c, or plain TCP passed through.
    private func serveAtWaypoint(_ channel: Channel, waypoint: Workload, peer: SpiffeID?, source: String, target: L7Proxy.Target) throws {
        try L7Proxy.serve(channel, proxy: { L7Proxy(ztunnel: self, leg: .waypoint, proxied: waypoint, peer: peer, source: source, target: target, http2Upstreams: $0) }) {
            self.passThrough($0, from: waypoint, to: target)
        }
    }

    /// Traffic that is not HTTP goes on as it came, to the destination as a request would (Envoy's TCP proxy).
    private func passThrough(_ stream: Channel, from waypoint: Workload, to target: L7Proxy.Target) {
        guard let upstream = upstream(on: .waypoint, of: waypoint, to: target, sourceIP: "") else {
            stream.close(promise: nil)
            return
        }
        var event = ConnectionEvent(event: .opened, id: nextID(), direction: "outbound")
        event.dstAddr = upstream.key
        event.dstWorkload = upstream.workload?.name
        event.dstService = target.service?.hostname
        let started = ContinuousClock.now
        let connection = openUpstream(upstream, from: waypoint, downstream: stream, id: event.id)
        event.hboneConnection = connection.hboneConnection
        log.write(event)
        let opened = event
        connection.channel.whenComplete { result in
            switch result {
            case .success(let upstream):
                self.glue(stream, upstream) { sent, received in self.log.write(opened.closed(sent: sent, received: received, since: started)) }
            case .failure:
                stream.close(promise: nil)
            }
        }
    }

    /// The policies a waypoint enforces.
    func waypointPolicies(_ uid: String) -> [Authorization] { (config?.policies ?? []).filter { $0.waypoint == uid } }

    /// The workload a request goes to: the workload itself, or the service's next endpoint.
    func destination(of target: L7Proxy.Target) -> (workload: Workload, port: Int)? {
        if let service = target.service {
            guard let mapping = service.ports.first(where: { $0.port == target.port }), let endpoint = pickEndpoint(service) else { return nil }
            return (endpoint, mapping.targetPort)
        }
        return target.workload.map { ($0, target.port) }
    }

    func logEvent(_ event: ConnectionEvent) { log.write(event) }
}
