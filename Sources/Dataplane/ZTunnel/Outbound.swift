import NIOCore

extension ZTunnel {
    /// Where an outbound connection goes, decided from its original destination.
    enum OutboundRoute {
        case refuse(String)
        /// To ztunnel's own ports (SelfCall): refused, logged and counted.
        case selfCall
        /// HBONE to the workload's ztunnel; `authority` is `<pod IP>:<target port>`.
        case hbone(Workload, authority: String, service: MeshService?)
        /// Plain TCP (the destination is outside the mesh, or not captured).
        case passthrough(host: String, port: Int, workload: Workload?, service: MeshService?)
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

    func route(from source: Workload, to ip: String, port: Int) -> OutboundRoute {
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
            guard let endpoint = pickEndpoint(service) else {
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

    /// A connection captured on 15001 inside `source`'s netns.
    func outbound(_ downstream: Channel, from source: Workload) {
        PodSockets.originalDestination(downstream).hop(to: eventLoop).whenComplete { result in
            guard case .success(let (ip, port)) = result else {
                downstream.close(promise: nil)
                return
            }
            if case .sidecar = self.role {
                self.sidecarOutbound(downstream, from: source, to: ip, port: port) { self.outbound($0, from: source, to: ip, port: port) }
            } else {
                self.outbound(downstream, from: source, to: ip, port: port)
            }
        }
    }

    /// A connection on 15001 in ztunnel's netns (node level): the source is the enrolled pod it
    /// came from, the original destination the local address TPROXY kept.
    func outboundFromNode(_ downstream: Channel) {
        guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port,
              let sourceIP = downstream.remoteAddress?.ipAddress,
              let source = mesh?.workload(at: sourceIP), source.node == node, source.tunnel == .hbone else {
            downstream.close(promise: nil)
            return
        }
        outbound(downstream, from: source, to: ip, port: port)
    }

    private func outbound(_ downstream: Channel, from source: Workload, to ip: String, port: Int) {
        let id = nextID()
        var event = ConnectionEvent(event: .opened, id: id, direction: "outbound")
        event.srcAddr = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        event.srcWorkload = source.name
        event.srcNamespace = source.namespace
        event.srcIdentity = identity(of: source).uri
        event.dstAddr = "\(ip):\(port)"
        let started = ContinuousClock.now

        let upstream: EventLoopFuture<Channel>
        switch route(from: source, to: ip, port: port) {
        case .selfCall:
            return refuseSelfCall(downstream, direction: "outbound", dstAddr: event.dstAddr ?? "\(ip):\(port)")
        case .refuse(let reason):
            event.event = .refused
            event.reason = reason
            log.write(event)
            downstream.close(promise: nil)
            return
        case .hbone(let target, let authority, let service) where isLocal(target):
            event.dstAddr = authority
            event.dstWorkload = target.name
            event.dstIdentity = identity(of: target).uri
            event.dstService = service?.hostname
            event.reason = ConnectionEvent.sameNodeReason
            log.write(event)
            deliverLocally(downstream, from: source, to: target, port: Int(authority.split(separator: ":").last ?? "") ?? port, srcAddr: event.srcAddr)
            return
        case .hbone(let target, let authority, let service):
            event.dstHboneAddr = "\(target.address):15008"
            event.dstAddr = authority
            event.dstWorkload = target.name
            event.dstIdentity = identity(of: target).uri
            event.dstService = service?.hostname
            let tunnel = openTunnel(from: source, to: target, authority: authority, downstream: downstream, id: id)
            event.hboneConnection = tunnel.connection
            upstream = tunnel.tunnel
        case .passthrough(let host, let port, let workload, let service):
            event.dstAddr = "\(host):\(port)"
            event.dstWorkload = workload?.name
            event.dstService = service?.hostname
            let placement = socketPlacement(for: source)
            upstream = connectPlain(netns: placement.netns, host: host, port: port, source: placement.source)
        }
        log.write(event)
        let opened = event
        upstream.whenComplete { result in
            switch result {
            case .success(let channel):
                self.glue(downstream, channel) { sent, received in
                    self.log.write(opened.closed(sent: sent, received: received, since: started))
                }
            case .failure(let error):
                var failed = opened
                failed.event = .failed
                failed.error = "\(error)"
                self.log.write(failed)
                downstream.close(promise: nil)
            }
        }
    }

    /// Node level only: is the destination served by this ztunnel too? Then no HBONE leaves the node
    /// (the node's rules would not bring it back to ztunnel), as ztunnel's same-node fast path does.
    private func isLocal(_ target: Workload) -> Bool {
        if case .node = mode { return target.node == node && target.tunnel == .hbone }
        return false
    }

    /// Same-node delivery: the destination's inbound authorization, then a connection to it from the
    /// source's own address.
    private func deliverLocally(_ downstream: Channel, from source: Workload, to target: Workload, port: Int, srcAddr: String?) {
        var event = ConnectionEvent(event: .opened, id: nextID(), direction: "inbound")
        event.srcAddr = srcAddr
        event.srcIdentity = identity(of: source).uri
        event.srcNamespace = source.namespace
        event.dstAddr = "\(target.address):\(port)"
        event.dstWorkload = target.name
        event.dstIdentity = identity(of: target).uri
        let facts = ConnectionFacts(sourceIdentity: identity(of: source), sourceIP: source.address, destinationIP: target.address,
                                    destinationPort: port, destination: target)
        guard admit(facts, &event) else {
            event.event = .refused
            log.write(event)
            downstream.close(promise: nil)
            return
        }
        let placement = socketPlacement(for: source)
        deliver(downstream, to: target.address, port: port, from: placement.netns, source: placement.source, facts: facts, event: event)
    }
}
