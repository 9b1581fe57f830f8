import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

extension ZTunnel {
    /// 15008: mTLS with the identity of the workload each connection is for (in-pod: the pod it
    /// listens in; node level: the workload at the connection's original destination), client
    /// certificate required, then HTTP/2 CONNECT streams, each a tunnel to the workload.
    func serveHBONE(_ fd: CInt, for destination: @escaping (Channel) -> Workload?) -> EventLoopFuture<Channel> {
        guard tls != nil else { return eventLoop.makeFailedFuture(HBONEError.notConfigured) }
        return ServerBootstrap(group: eventLoop)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                self.isOwn(channel).flatMapThrowing { own in
                    guard !own else { return self.refuseOwn(channel) }
                    guard let tls = self.tls, let workload = destination(channel) else { throw HBONEError.notServed }
                    let key = ObjectIdentifier(channel)
                    self.hboneServerConnections[key] = channel
                    channel.closeFuture.whenComplete { _ in self.hboneServerConnections[key] = nil }
                    let verified = channel.eventLoop.makePromise(of: SpiffeID.self)
                    verified.futureResult.whenFailure { self.logEarlyDeny($0, on: channel) }
                    let peer = PeerIdentityHandler(trustDomain: tls.trustDomain, expected: [], verified: verified)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(tls.serverHandler(for: self.identity(of: workload), reportingTo: peer))
                    try pipeline.addHandler(WholeFrames(server: true))
                    try pipeline.addHandler(peer)
                    _ = try pipeline.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: Self.http2Connection, streamConfiguration: Self.http2Stream
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(HBONEStream(.server(accept: { headers, stream in
                                self.acceptHBONE(headers, stream: stream, connection: channel)
                            })))
                            try stream.pipeline.syncOperations.addHandler(Holdback())
                        }
                    }
                    try pipeline.addHandler(CloseOnConnectionError())
                }
            }
            .withBoundSocket(fd)
            .always { _ in PodSockets.restoreBacklog(fd) }
    }

    /// Decides one CONNECT: 400 malformed or authority not this connection's address, 503 unknown
    /// workload or failed upstream, 401 denied by policy; 200 once the upstream connection exists.
    func acceptHBONE(_ headers: HPACKHeaders, stream: Channel, connection: Channel) -> EventLoopFuture<HBONEStream.Acceptance> {
        if case .waypoint(let uid) = role { return acceptAtWaypoint(uid, headers, stream: stream, connection: connection) }
        let id = nextID()
        var event = ConnectionEvent(event: .opened, id: id, direction: "inbound")
        let peer = try? connection.pipeline.syncOperations.handler(type: PeerIdentityHandler.self).identity
        let sourceIP = connection.remoteAddress?.ipAddress ?? "?"
        event.srcAddr = headers.first(name: "forwarded").flatMap(Self.forwardedFor) ?? "\(sourceIP):\(connection.remoteAddress?.port ?? 0)"
        event.srcIdentity = peer?.uri
        event.srcNamespace = peer?.namespace
        event.traceParent = headers.first(name: "traceparent")?.split(separator: "-").dropFirst(2).first.map(String.init)
        event.dstHboneAddr = connection.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        let authority = headers.first(name: ":authority") ?? ""
        event.dstAddr = authority
        let reject = { (code: Int, reason: String) -> EventLoopFuture<HBONEStream.Acceptance> in
            event.event = .refused
            event.reason = "\(code): \(reason)"
            self.log.write(event)
            return self.eventLoop.makeSucceededFuture(.init(status: code))
        }
        guard headers.first(name: ":method") == "CONNECT" else { return reject(400, "not a CONNECT request") }
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { return reject(400, "malformed authority '\(authority)'") }
        let ip = String(parts[0])
        let local = connection.localAddress?.ipAddress ?? ""
        // A waypoint behind ztunnel is asked for what it serves (a service VIP, a workload), not for its own address.
        let proxied = mesh?.workload(at: local).flatMap { $0.proxyProtocolPort != nil && usesWaypoint(ip, $0) ? $0 : nil }
        guard ip == local || proxied != nil else {
            return reject(400, "authority \(ip) is not the address this connection reached")
        }
        // A sidecar serves its own pod; a ztunnel the pods of its node.
        guard let target = proxied ?? mesh?.workload(at: ip), role.servedUID.map({ $0 == target.uid }) ?? (target.node == node) else {
            return reject(503, "no local workload at \(ip)")
        }
        event.dstWorkload = target.name
        event.dstIdentity = identity(of: target).uri
        if SelfCall.illegalPorts.contains(port) {
            metrics.refusedSelfCall(direction: "inbound")
            return reject(503, SelfCall.reason)
        }
        if case .sidecar = role { return acceptAtSidecar(target, port: port, peer: peer, sourceIP: sourceIP, event: event, stream: stream) }
        let facts = ConnectionFacts(sourceIdentity: peer, sourceIP: sourceIP, destinationIP: target.address, destinationPort: port, destination: target)
        guard admit(facts, &event) else { return reject(401, event.reason ?? "denied") }

        let started = ContinuousClock.now
        let opened = event
        let upstreamPort = target.proxyProtocolPort ?? port
        return connectPlain(netns: socketPlacement(for: target).netns, host: target.address, port: upstreamPort, source: sourceIP).map { upstream in
            self.log.write(opened)
            return .init(status: 200) {
                // The application tunnel: after the 200, a PROXY header says who called and what for.
                if target.proxyProtocolPort != nil {
                    let caller = (opened.srcAddr ?? "").split(separator: ":")
                    let header = ProxyHeader(source: (String(caller.first ?? ""), Int(caller.last ?? "") ?? 0), destination: (ip, port), identity: peer?.uri)
                    upstream.writeAndFlush(header.encoded(), promise: nil)
                }
                self.track(id, facts: facts, channels: [stream, upstream], event: opened, started: started, downstream: stream, upstream: upstream)
            }
        }.flatMapError { error in
            reject(503, "upstream connect failed: \(error)")
        }
    }

    /// Whether calls to `ip` (a service VIP or a workload) go through `waypoint`.
    private func usesWaypoint(_ ip: String, _ waypoint: Workload) -> Bool {
        mesh?.service(vip: ip)?.waypoint == waypoint.uid || mesh?.workload(at: ip)?.waypoint == waypoint.uid
    }

    /// 15006 inside `workload`'s netns: plaintext from outside the mesh, authorized without identity.
    func inboundPlaintext(_ downstream: Channel, at workload: Workload) {
        PodSockets.originalDestination(downstream).hop(to: eventLoop).whenComplete { result in
            switch result {
            case .success(let (ip, port)):
                self.inboundPlaintext(downstream, at: workload, ip: ip, port: port)
            case .failure:
                // TPROXY (the older in-pod form) leaves no NAT record: the local address is the original destination.
                guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port else {
                    downstream.close(promise: nil)
                    return
                }
                self.inboundPlaintext(downstream, at: workload, ip: ip, port: port)
            }
        }
    }

    /// 15006 in ztunnel's netns (node level): TPROXY kept the original destination as the local address.
    func inboundPlaintextFromNode(_ downstream: Channel) {
        guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port,
              let workload = mesh?.workload(at: ip), workload.node == node else {
            downstream.close(promise: nil)
            return
        }
        inboundPlaintext(downstream, at: workload, ip: ip, port: port)
    }

    private func inboundPlaintext(_ downstream: Channel, at workload: Workload, ip: String, port: Int) {
        // Passed on, a connection to 15006 would come straight back here, and so on without end.
        guard !SelfCall.illegalPorts.contains(port) else { return refuseSelfCall(downstream, direction: "inbound", dstAddr: "\(ip):\(port)") }
        guard case .sidecar = role else { return inboundPlaintextL4(downstream, at: workload, ip: ip, port: port) }
        sidecarInbound(downstream, at: workload, ip: ip, port: port) { self.inboundPlaintextL4($0, at: workload, ip: ip, port: port) }
    }

    private func inboundPlaintextL4(_ downstream: Channel, at workload: Workload, ip: String, port: Int) {
        let id = self.nextID()
        var event = ConnectionEvent(event: .opened, id: id, direction: "inbound")
        let sourceIP = downstream.remoteAddress?.ipAddress ?? "?"
        event.srcAddr = downstream.remoteAddress.map { "\(sourceIP):\($0.port ?? 0)" }
        event.dstAddr = "\(ip):\(port)"
        event.dstWorkload = workload.name
        event.dstIdentity = self.identity(of: workload).uri
        // Only ztunnel may open a waypoint's PROXY port: a header there is believed (the caller's identity).
        if port == workload.proxyProtocolPort {
            event.event = .refused
            event.reason = "plaintext to the PROXY protocol port of \(workload.namespace)/\(workload.name): only ztunnel connects there"
            log.write(event)
            downstream.close(promise: nil)
            return
        }
        let facts = ConnectionFacts(sourceIdentity: nil, sourceIP: sourceIP, destinationIP: ip, destinationPort: port, destination: workload)
        guard self.admit(facts, &event) else {
            event.event = .refused
            self.log.write(event)
            downstream.close(promise: nil)
            return
        }
        deliver(downstream, to: ip, port: port, from: socketPlacement(for: workload).netns, source: sourceIP, facts: facts, event: event)
    }

    /// Connects to an authorized connection's workload and joins the two, tracked for re-authorization;
    /// logs `opened`, or `failed` and closes the downstream.
    func deliver(_ downstream: Channel, to ip: String, port: Int, from netns: String, source: String?, facts: ConnectionFacts,
                 event: ConnectionEvent) {
        let started = ContinuousClock.now
        connectPlain(netns: netns, host: ip, port: port, source: source).whenComplete { result in
            switch result {
            case .success(let upstream):
                self.log.write(event)
                self.track(event.id, facts: facts, channels: [downstream, upstream], event: event, started: started,
                           downstream: downstream, upstream: upstream)
            case .failure(let error):
                var failed = event
                failed.event = .failed
                failed.error = "\(error)"
                self.log.write(failed)
                downstream.close(promise: nil)
            }
        }
    }

    /// Authorizes and logs the decision. Returns whether the connection may proceed.
    func admit(_ facts: ConnectionFacts, _ event: inout ConnectionEvent) -> Bool {
        let decision = authorize(facts, policies: config?.l4Policies ?? [])
        var policyEvent = event
        policyEvent.event = .policy
        policyEvent.allowed = decision.allowed
        policyEvent.policy = decision.policy
        policyEvent.reason = decision.reason + (decision.dryRunMatches.isEmpty ? "" : "; dry-run matched \(decision.dryRunMatches.joined(separator: ","))")
        log.write(policyEvent)
        event.reason = policyEvent.reason
        event.policy = decision.policy
        return decision.allowed
    }

    func track(_ id: String, facts: ConnectionFacts, channels: [Channel], event: ConnectionEvent, started: ContinuousClock.Instant,
                       downstream: Channel, upstream: Channel)
    {
        tracked[id] = TrackedConnection(facts: facts, channels: channels, event: event)
        let labels = TCPMetrics.Labels(
            // A source with a verified identity is a mesh workload: name it, as Istio's peer metadata does.
            reporter: "destination",
            sourceWorkload: facts.sourceIdentity == nil ? "unknown" : mesh?.workload(at: facts.sourceIP)?.name ?? "unknown",
            sourceNamespace: facts.sourceIdentity?.namespace ?? "unknown",
            sourcePrincipal: facts.sourceIdentity?.uri ?? "unknown", destinationWorkload: facts.destination.name,
            destinationNamespace: facts.destination.namespace, destinationPrincipal: identity(of: facts.destination).uri,
            securityPolicy: facts.sourceIdentity == nil ? "unknown" : "mutual_tls", responseFlags: "-")
        metrics.opened(labels)
        glue(downstream, upstream) { received, sent in
            self.tracked[id] = nil
            self.metrics.closed(labels, received: received, sent: sent)
            self.log.write(event.closed(sent: sent, received: received, since: started))
        }
    }

    /// After a policy change: close every open inbound connection that policies now deny.
    func reauthorize() {
        for (id, connection) in tracked {
            let decision = authorize(connection.facts, policies: config?.l4Policies ?? [])
            guard !decision.allowed else { continue }
            var event = connection.event
            event.event = .policy
            event.allowed = false
            event.policy = decision.policy
            event.reason = "\(decision.reason) (policy changed; connection closed)"
            log.write(event)
            connection.channels.forEach { $0.close(promise: nil) }
            tracked[id] = nil
        }
    }

    static func forwardedFor(_ value: String) -> String? {
        guard let range = value.range(of: "for=") else { return nil }
        return String(value[range.upperBound...].prefix { $0 != ";" && $0 != "," }).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}
