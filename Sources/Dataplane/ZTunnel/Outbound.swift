import NIOCore

/// ztunnel's outbound (src/proxy/outbound.rs): a connection a served pod made, captured on 15001,
/// goes where the mesh says its original destination is: HBONE to the destination's ztunnel (or
/// its waypoint, or a sidecar's pod), plain TCP outside the mesh, or refused. A sidecar sends what
/// is not HTTP the same way.
final class Outbound: @unchecked Sendable {  // used on its process's one event loop
    /// Where an outbound connection goes, decided from its original destination.
    enum Route {
        case refuse(String)
        /// To the proxy's own ports (SelfCall): refused, logged and counted.
        case selfCall
        /// HBONE to the workload's ztunnel; `authority` is `<pod IP>:<target port>`.
        case hbone(Workload, authority: String, service: MeshService?)
        /// Plain TCP (the destination is outside the mesh, or not captured).
        case passthrough(host: String, port: Int, workload: Workload?, service: MeshService?)
    }

    private let inputs: ProxyInputs
    private let forwarder: Forwarder
    private let manager: ConnectionManager
    private let pool: HBONEClientPool
    private let endpoints: EndpointPicker
    private let mode: CaptureMode
    /// Whether a destination is served by this same process, so no HBONE leaves the node (node-level
    /// ztunnel: its node's rules would not bring it back), as ztunnel's same-node fast path does.
    private let servedHere: (Workload) -> Bool
    private var mesh: MeshIndex? { inputs.mesh }

    init(inputs: ProxyInputs, forwarder: Forwarder, manager: ConnectionManager, pool: HBONEClientPool, endpoints: EndpointPicker,
         mode: CaptureMode, servedHere: @escaping (Workload) -> Bool) {
        self.inputs = inputs
        self.forwarder = forwarder
        self.manager = manager
        self.pool = pool
        self.endpoints = endpoints
        self.mode = mode
        self.servedHere = servedHere
    }

    /// The waypoint a destination uses, unless the caller is that waypoint (its own traffic goes on to the destination).
    private func waypoint(_ uid: String?, for source: Workload) -> Workload? {
        guard let uid, uid != source.uid else { return nil }
        return mesh?.workload(uid: uid)
    }

    /// Ambient pods take HBONE from anyone in the mesh; a sidecar's pod only from other sidecars.
    private func speaksHBONE(_ destination: Workload, from source: Workload) -> Bool {
        destination.tunnel == .hbone || (destination.sidecar && source.sidecar)
    }

    func route(from source: Workload, to ip: String, port: Int) -> Route {
        // ztunnel refuses its own ports on loopback; a pod's own address reaches the same listeners here.
        if SelfCall.illegalPorts.contains(port) && (SelfCall.isLoopback(ip) || ip == source.address) {
            return .selfCall
        }
        if let service = mesh?.service(vip: ip) {
            guard let mapping = service.ports.first(where: { $0.port == port }) else {
                return .refuse("service \(service.namespace)/\(service.name) has no port \(port)")
            }
            if let waypoint = waypoint(service.waypoint, for: source) {
                return .hbone(waypoint, authority: "\(ip):\(port)", service: service)
            }
            guard let endpoint = endpoints.pick(service, in: mesh) else {
                return .refuse("service \(service.namespace)/\(service.name) has no endpoints")
            }
            // An endpoint with a waypoint of its own (a service account's) is reached through it.
            return speaksHBONE(endpoint, from: source)
                ? .hbone(waypoint(endpoint.waypoint, for: source) ?? endpoint, authority: "\(endpoint.address):\(mapping.targetPort)", service: service)
                : .passthrough(host: endpoint.address, port: mapping.targetPort, workload: endpoint, service: service)
        }
        if let workload = mesh?.workload(at: ip), speaksHBONE(workload, from: source) {
            return .hbone(waypoint(workload.waypoint, for: source) ?? workload, authority: "\(ip):\(port)", service: nil)
        }
        return .passthrough(host: ip, port: port, workload: mesh?.workload(at: ip), service: nil)
    }

    /// A captured connection from `source` to its original destination `ip:port`.
    func forward(_ downstream: Channel, from source: Workload, to ip: String, port: Int) {
        let id = inputs.nextID()
        var event = ConnectionEvent(event: .opened, id: id, direction: "outbound")
        event.srcAddr = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        event.srcWorkload = source.name
        event.srcNamespace = source.namespace
        event.srcIdentity = inputs.identity(of: source).uri
        event.dstAddr = "\(ip):\(port)"
        let started = ContinuousClock.now

        let upstream: EventLoopFuture<Channel>
        switch route(from: source, to: ip, port: port) {
        case .selfCall:
            return inputs.refuseSelfCall(downstream, direction: "outbound", dstAddr: event.dstAddr ?? "\(ip):\(port)")
        case .refuse(let reason):
            event.event = .refused
            event.reason = reason
            inputs.log.write(event)
            downstream.close(promise: nil)
            return
        case .hbone(let target, let authority, let service) where servedHere(target):
            event.dstAddr = authority
            event.dstWorkload = target.name
            event.dstIdentity = inputs.identity(of: target).uri
            event.dstService = service?.hostname
            event.reason = ConnectionEvent.sameNodeReason
            inputs.log.write(event)
            deliverLocally(downstream, from: source, to: target, port: Int(authority.split(separator: ":").last ?? "") ?? port, srcAddr: event.srcAddr)
            return
        case .hbone(let target, let authority, let service):
            event.dstHboneAddr = "\(target.address):15008"
            event.dstAddr = authority
            event.dstWorkload = target.name
            event.dstIdentity = inputs.identity(of: target).uri
            event.dstService = service?.hostname
            let tunnel = pool.openTunnel(from: source, to: target, authority: authority, downstream: downstream, id: id)
            event.hboneConnection = tunnel.connection
            upstream = tunnel.tunnel
        case .passthrough(let host, let port, let workload, let service):
            event.dstAddr = "\(host):\(port)"
            event.dstWorkload = workload?.name
            event.dstService = service?.hostname
            let placement = mode.placement(for: source)
            upstream = forwarder.connect(netns: placement.netns, host: host, port: port, source: placement.source)
        }
        inputs.log.write(event)
        let opened = event
        upstream.whenComplete { result in
            switch result {
            case .success(let channel):
                self.forwarder.glue(downstream, channel) { sent, received in
                    self.inputs.log.write(opened.closed(sent: sent, received: received, since: started))
                }
            case .failure(let error):
                self.inputs.log.write(opened.failed(error))
                downstream.close(promise: nil)
            }
        }
    }

    /// Same-node delivery: the destination's inbound authorization, then a connection to it from the
    /// source's own address.
    private func deliverLocally(_ downstream: Channel, from source: Workload, to target: Workload, port: Int, srcAddr: String?) {
        var event = ConnectionEvent(event: .opened, id: inputs.nextID(), direction: "inbound")
        event.srcAddr = srcAddr
        event.srcIdentity = inputs.identity(of: source).uri
        event.srcNamespace = source.namespace
        event.dstAddr = "\(target.address):\(port)"
        event.dstWorkload = target.name
        event.dstIdentity = inputs.identity(of: target).uri
        let facts = ConnectionFacts(sourceIdentity: inputs.identity(of: source), sourceIP: source.address, destinationIP: target.address,
                                    destinationPort: port, destination: target)
        guard manager.admit(facts, &event) else {
            event.event = .refused
            inputs.log.write(event)
            downstream.close(promise: nil)
            return
        }
        let placement = mode.placement(for: source)
        manager.deliver(downstream, to: target.address, port: port, from: placement.netns, source: placement.source, facts: facts, event: event)
    }
}
