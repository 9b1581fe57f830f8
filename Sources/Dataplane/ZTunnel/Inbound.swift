import NIOCore
import NIOHPACK

/// ztunnel's inbound (src/proxy/inbound.rs): decides each CONNECT on 15008. 400 malformed or an
/// authority that is not the address the connection reached, 503 a workload not served here or a
/// failed upstream, 401 denied by policy; 200 once the upstream connection exists, which is then
/// joined to the stream and tracked for re-authorization. A sidecar shares the checks before
/// authorization (`resolve`) and serves what passes them itself.
final class Inbound: @unchecked Sendable {  // used on its process's one event loop
    /// A CONNECT that passed every check before authorization.
    struct Request {
        var connect: ConnectRequest
        /// The workload it is for; behind ztunnel, a waypoint asked for a destination it serves.
        var target: Workload
        var peer: SpiffeID?
        var sourceIP: String
        /// Its `opened` event so far (addresses, identities), logged once it is decided.
        var event: ConnectionEvent
    }

    enum Resolution {
        case refused(EventLoopFuture<HBONEStream.Acceptance>)
        case resolved(Request)
    }

    private let inputs: ProxyInputs
    private let manager: ConnectionManager
    private let forwarder: Forwarder
    private let mode: CaptureMode
    /// Whether a workload is this process's to serve: a ztunnel's, its node's; a sidecar's, its pod.
    private let serves: (Workload) -> Bool

    init(inputs: ProxyInputs, manager: ConnectionManager, forwarder: Forwarder, mode: CaptureMode, serves: @escaping (Workload) -> Bool) {
        self.inputs = inputs
        self.manager = manager
        self.forwarder = forwarder
        self.mode = mode
        self.serves = serves
    }

    /// Checks a CONNECT up to authorization; those refused before it are answered and logged here.
    func resolve(_ headers: HPACKHeaders, connection: Channel) -> Resolution {
        var event = ConnectionEvent(event: .opened, id: inputs.nextID(), direction: "inbound")
        let peer = HBONEServer.peer(of: connection)
        let sourceIP = connection.remoteAddress?.ipAddress ?? "?"
        event.srcAddr = headers.first(name: "forwarded").flatMap(ConnectRequest.forwardedFor) ?? "\(sourceIP):\(connection.remoteAddress?.port ?? 0)"
        event.srcIdentity = peer?.uri
        event.srcNamespace = peer?.namespace
        event.traceParent = headers.first(name: "traceparent")?.split(separator: "-").dropFirst(2).first.map(String.init)
        event.dstHboneAddr = connection.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        event.dstAddr = headers.first(name: ":authority") ?? ""
        let connect: ConnectRequest
        do {
            connect = try ConnectRequest(headers)
        } catch {
            return .refused(reject(event, 400, (error as? ConnectRequest.Malformed)?.reason ?? "\(error)"))
        }
        let local = connection.localAddress?.ipAddress ?? ""
        // A waypoint behind ztunnel is asked for what it serves (a service VIP, a workload), not for its own address.
        let proxied = inputs.mesh?.workload(at: local).flatMap { $0.proxyProtocolPort != nil && usesWaypoint(connect.ip, $0) ? $0 : nil }
        guard connect.ip == local || proxied != nil else {
            return .refused(reject(event, 400, "authority \(connect.ip) is not the address this connection reached"))
        }
        guard let target = proxied ?? inputs.mesh?.workload(at: connect.ip), serves(target) else {
            return .refused(reject(event, 503, "no local workload at \(connect.ip)"))
        }
        event.dstWorkload = target.name
        event.dstIdentity = inputs.identity(of: target).uri
        if SelfCall.illegalPorts.contains(connect.port) {
            inputs.metrics.refusedSelfCall(direction: "inbound")
            return .refused(reject(event, 503, SelfCall.reason))
        }
        return .resolved(Request(connect: connect, target: target, peer: peer, sourceIP: sourceIP, event: event))
    }

    /// A CONNECT at a ztunnel: resolved, authorized at L4, then tunneled to the workload.
    func accept(_ headers: HPACKHeaders, stream: Channel, connection: Channel) -> EventLoopFuture<HBONEStream.Acceptance> {
        switch resolve(headers, connection: connection) {
        case .refused(let answer): answer
        case .resolved(let request): tunnel(request, stream: stream)
        }
    }

    private func tunnel(_ request: Request, stream: Channel) -> EventLoopFuture<HBONEStream.Acceptance> {
        let (target, port, peer, sourceIP) = (request.target, request.connect.port, request.peer, request.sourceIP)
        var event = request.event
        let facts = ConnectionFacts(sourceIdentity: peer, sourceIP: sourceIP, destinationIP: target.address, destinationPort: port, destination: target)
        guard manager.admit(facts, &event) else { return reject(event, 401, event.reason ?? "denied") }

        let started = ContinuousClock.now
        let opened = event
        let upstreamPort = target.proxyProtocolPort ?? port
        return forwarder.connect(netns: mode.placement(for: target).netns, host: target.address, port: upstreamPort, source: sourceIP).map { upstream in
            self.inputs.log.write(opened)
            return .init(status: 200) {
                // The application tunnel: after the 200, a PROXY header says who called and what for.
                if target.proxyProtocolPort != nil {
                    let caller = (opened.srcAddr ?? "").split(separator: ":")
                    let header = ProxyHeader(source: (String(caller.first ?? ""), Int(caller.last ?? "") ?? 0),
                                             destination: (request.connect.ip, port), identity: peer?.uri)
                    upstream.writeAndFlush(header.encoded(), promise: nil)
                }
                self.manager.track(opened.id, facts: facts, event: opened, started: started, downstream: stream, upstream: upstream)
            }
        }.flatMapError { error in
            self.reject(opened, 503, "upstream connect failed: \(error)")
        }
    }

    private func reject(_ event: ConnectionEvent, _ code: Int, _ reason: String) -> EventLoopFuture<HBONEStream.Acceptance> {
        var event = event
        event.event = .refused
        event.reason = "\(code): \(reason)"
        inputs.log.write(event)
        return inputs.eventLoop.makeSucceededFuture(.init(status: code))
    }

    /// Whether calls to `ip` (a service VIP or a workload) go through `waypoint`.
    private func usesWaypoint(_ ip: String, _ waypoint: Workload) -> Bool {
        inputs.mesh?.service(vip: ip)?.waypoint == waypoint.uid || inputs.mesh?.workload(at: ip)?.waypoint == waypoint.uid
    }
}
