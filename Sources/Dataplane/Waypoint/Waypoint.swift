import NIOCore
import NIOHPACK
import NIOPosix

/// MeshLab's waypoint, one per waypoint pod: HBONE in on 15008 with the waypoint's identity (or,
/// behind ztunnel, plain TCP on its PROXY port, each connection opened by ztunnel's PROXY header);
/// each CONNECT (authority: the original service VIP or workload address and port) is a stream that
/// the L7 proxy serves request by request in the protocol its client speaks, applying the
/// waypoint's L7 policies and routes and sending each allowed request on to a destination workload
/// (over HBONE to its ztunnel). All state lives on one event loop.
public final class Waypoint: MeshProxy, @unchecked Sendable {
    /// The waypoint's own workload (`namespace/name`).
    public let uid: String
    /// Its pod's netns, where it listens and connects from (with its pod's address).
    private let mode: CaptureMode
    let inputs: ProxyInputs
    private let forwarder: Forwarder
    private let pool: HBONEClientPool
    private let server: HBONEServer
    private let endpoints = EndpointPicker()
    private let routes = RouteTable()
    private let requestMetrics = RequestMetrics()
    private var listener: Channel?

    /// A waypoint serving `uid` from inside its pod's `netns`. Its log ids read `waypoint <ns>/<name>-<n>`,
    /// so checks can name the hop.
    public init(uid: String, netns: String, eventLoop: EventLoop, pool: NIOThreadPool) {
        self.uid = uid
        mode = .node(netns: netns)
        inputs = ProxyInputs(name: "waypoint \(uid)", eventLoop: eventLoop, pool: pool)
        forwarder = Forwarder(inputs: inputs)
        self.pool = HBONEClientPool(inputs: inputs, mode: mode)
        server = HBONEServer(inputs: inputs)
    }

    /// Takes a pushed update, and starts listening once the config names the waypoint's workload.
    public func apply(_ update: ZTunnelUpdate) -> EventLoopFuture<Void> {
        inputs.eventLoop.flatSubmit {
            do { try self.inputs.install(update) } catch { return self.inputs.eventLoop.makeFailedFuture(error) }
            return self.listen()
        }
    }

    public func dump() -> EventLoopFuture<ZTunnelDump> {
        inputs.eventLoop.submit {
            // A waypoint captures no pods and keeps no connection for re-authorization.
            ZTunnelDump(node: self.inputs.name, config: self.inputs.config, identities: self.inputs.tls?.heldIdentities.map(\.uri) ?? [],
                        capturedWorkloads: [], openConnections: 0, pooledConnections: self.pool.pooledConnections)
        }
    }

    public func renderMetrics() -> String { inputs.metrics.render() + requestMetrics.render() }

    private func listen() -> EventLoopFuture<Void> {
        guard listener == nil, case .node(let netns) = mode, let waypoint = inputs.mesh?.workload(uid: uid) else {
            return inputs.eventLoop.makeSucceededVoidFuture()
        }
        // Behind ztunnel (PROXY application tunnel): plain TCP on that port, each connection opened by a PROXY header.
        if let port = waypoint.proxyProtocolPort {
            return inputs.pool.runIfActive(eventLoop: inputs.eventLoop) { try PodSockets.listen(netns: netns, port: port) }
                .flatMap { fd in self.inputs.listen(fd) { self.acceptProxied($0) } }
                .map { self.listener = $0 }
        }
        return inputs.pool.runIfActive(eventLoop: inputs.eventLoop) { try PodSockets.listen(netns: netns, port: 15008) }
            .flatMap { fd in self.server.serve(fd, for: { _ in self.inputs.mesh?.workload(uid: self.uid) }, accept: self.accept) }
            .map { self.listener = $0 }
    }

    /// A CONNECT on 15008: answered 200 at once when it asks for something this waypoint serves
    /// (400 malformed, 503 not served), then the stream goes to the L7 proxy.
    private func accept(_ headers: HPACKHeaders, stream: Channel, connection: Channel) -> EventLoopFuture<HBONEStream.Acceptance> {
        let refuse = { (code: Int) in self.inputs.eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: code)) }
        guard let connect = try? ConnectRequest(headers) else { return refuse(400) }
        guard let (waypoint, target) = target(ip: connect.ip, port: connect.port) else { return refuse(503) }
        let peer = HBONEServer.peer(of: connection)
        let source = connect.forwardedFor ?? connection.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        return inputs.eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: 200) {
            do {
                try self.serve(stream, waypoint: waypoint, peer: peer, source: source, target: target)
                try Holdback.handOver(stream)
            } catch {
                stream.close(promise: nil)
            }
        })
    }

    /// A connection ztunnel handed over with a PROXY header: the caller's address and identity, and
    /// what it asked for, come from the header.
    private func acceptProxied(_ downstream: Channel) {
        do {
            try downstream.pipeline.syncOperations.addHandler(ProxyHeaderDecoder { header, channel in
                guard let (waypoint, target) = self.target(ip: header.destination.ip, port: header.destination.port) else {
                    throw HBONEError.notServed
                }
                try self.serve(channel, waypoint: waypoint, peer: header.identity.flatMap(SpiffeID.init(uri:)),
                               source: "\(header.source.ip):\(header.source.port)", target: target)
            })
            try Holdback.handOver(downstream)
        } catch {
            downstream.close(promise: nil)
        }
    }

    /// What a request to `ip:port` is for; nil unless that uses this waypoint.
    private func target(ip: String, port: Int) -> (Workload, L7Proxy.Target)? {
        guard let waypoint = inputs.mesh?.workload(uid: uid) else { return nil }
        let service = inputs.mesh?.service(vip: ip)
        let workload = inputs.mesh?.workload(at: ip)
        guard service?.waypoint == uid || (service == nil && workload?.waypoint == uid) else { return nil }
        return (waypoint, L7Proxy.Target(ip: ip, port: port, service: service, workload: workload))
    }

    /// The waypoint speaks what the client speaks: HTTP/1.1, h2c, or plain TCP passed through.
    private func serve(_ channel: Channel, waypoint: Workload, peer: SpiffeID?, source: String, target: L7Proxy.Target) throws {
        let l7 = l7Inputs
        try L7Proxy.serve(channel, proxy: { L7Proxy(inputs: l7, leg: .waypoint, proxied: waypoint, peer: peer, source: source, target: target, http2Upstreams: $0) }) {
            self.passThrough($0, from: waypoint, to: target)
        }
    }

    private var l7Inputs: L7Inputs {
        L7Inputs(log: inputs.log, requestMetrics: requestMetrics, routes: routes, ids: inputs.ids, randomIDs: inputs.randomIDs,
                 mesh: { [inputs] in inputs.mesh }, forwarder: forwarder, opener: UpstreamOpener(pool: pool, forwarder: forwarder), upstreams: self)
    }

    /// Traffic that is not HTTP goes on as it came, to the destination as a request would (Envoy's TCP proxy).
    private func passThrough(_ stream: Channel, from waypoint: Workload, to target: L7Proxy.Target) {
        guard let upstream = upstream(on: .waypoint, of: waypoint, to: target, sourceIP: "") else {
            stream.close(promise: nil)
            return
        }
        var event = ConnectionEvent(event: .opened, id: inputs.nextID(), direction: "outbound")
        event.dstAddr = upstream.key
        event.dstWorkload = upstream.workload?.name
        event.dstService = target.service?.hostname
        let started = ContinuousClock.now
        let connection = UpstreamOpener(pool: pool, forwarder: forwarder).open(upstream, from: waypoint, downstream: stream, id: event.id)
        event.hboneConnection = connection.hboneConnection
        inputs.log.write(event)
        let opened = event
        connection.channel.whenComplete { result in
            switch result {
            case .success(let upstream):
                self.forwarder.glue(stream, upstream) { sent, received in self.inputs.log.write(opened.closed(sent: sent, received: received, since: started)) }
            case .failure:
                stream.close(promise: nil)
            }
        }
    }
}

extension Waypoint: L7Upstreams {
    /// To the destination workload (a service's next endpoint): over HBONE to its ztunnel when it
    /// is ambient, else plain TCP from the waypoint's pod.
    func upstream(on leg: ProxyLeg, of proxied: Workload, to target: L7Proxy.Target, sourceIP: String) -> Upstream? {
        guard let (destination, port) = destination(of: target) else { return nil }
        let address = "\(destination.address):\(port)"
        return destination.tunnel == .hbone
            ? Upstream(workload: destination, carrier: .hbone(destination, authority: address))
            : Upstream(workload: destination, carrier: .plain(host: destination.address, port: port, netns: mode.placement(for: proxied).netns, source: nil))
    }

    /// The policies bound to this waypoint.
    func policies(on leg: ProxyLeg, of proxied: Workload) -> [Authorization] {
        (inputs.config?.policies ?? []).filter { $0.waypoint == proxied.uid }
    }

    /// The workload a request goes to: the workload itself, or the service's next endpoint.
    private func destination(of target: L7Proxy.Target) -> (workload: Workload, port: Int)? {
        if let service = target.service {
            guard let mapping = service.ports.first(where: { $0.port == target.port }), let endpoint = endpoints.pick(service, in: inputs.mesh) else { return nil }
            return (endpoint, mapping.targetPort)
        }
        return target.workload.map { ($0, target.port) }
    }
}
