import NIOCore

extension ZTunnel {
    /// Where an outbound connection goes, decided from its original destination.
    enum OutboundRoute {
        case refuse(String)
        /// HBONE to the workload's ztunnel; `authority` is `<pod IP>:<target port>`.
        case hbone(Workload, authority: String, service: MeshService?)
        /// Plain TCP (the destination is outside the mesh, or not captured).
        case passthrough(host: String, port: Int, workload: Workload?, service: MeshService?)
    }

    func route(from source: Workload, to ip: String, port: Int) -> OutboundRoute {
        if ip == source.address && [15001, 15006, 15008].contains(port) {
            return .refuse("self-call to ztunnel port \(port)")
        }
        if let service = mesh?.service(vip: ip) {
            guard let mapping = service.ports.first(where: { $0.port == port }) else {
                return .refuse("service \(service.namespace)/\(service.name) has no port \(port)")
            }
            guard let endpoint = pickEndpoint(service) else {
                return .refuse("service \(service.namespace)/\(service.name) has no endpoints")
            }
            return endpoint.tunnel == .hbone
                ? .hbone(endpoint, authority: "\(endpoint.address):\(mapping.targetPort)", service: service)
                : .passthrough(host: endpoint.address, port: mapping.targetPort, workload: endpoint, service: service)
        }
        if let workload = mesh?.workload(at: ip), workload.tunnel == .hbone {
            return .hbone(workload, authority: "\(ip):\(port)", service: nil)
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
            self.outbound(downstream, from: source, to: ip, port: port)
        }
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
        case .refuse(let reason):
            event.event = .refused
            event.reason = reason
            log.write(event)
            downstream.close(promise: nil)
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
            upstream = connectPlain(netns: source.netns, host: host, port: port)
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
}
