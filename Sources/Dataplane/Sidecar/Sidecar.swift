import NIOCore
import NIOHPACK
import NIOPosix

/// MeshLab's sidecar, serving its one pod from inside it: listeners 15001, 15006 and 15008 in the
/// pod, which sidecar-injection rules feed. Connections are sniffed: HTTP goes through the L7 proxy
/// (client-side routing on the way out; per-request authorization on the way in), anything else
/// takes the L4 paths a ztunnel would (its outbound, inbound and inbound passthrough). All state
/// lives on one event loop.
public final class Sidecar: MeshProxy, @unchecked Sendable {
    /// The pod it serves (`namespace/name`).
    public let uid: String
    let inputs: ProxyInputs
    /// ztunnel's L4 paths, in the pod: what is not HTTP goes as a ztunnel would send it.
    private let proxy: L4Proxy
    private let routes = RouteTable()
    private let requestMetrics = RequestMetrics()
    private var listeners: [Channel]?

    /// A sidecar in pod `uid`. Its log ids read `sidecar <ns>/<name>-<n>`.
    public init(uid: String, eventLoop: EventLoop, pool: NIOThreadPool) {
        self.uid = uid
        inputs = ProxyInputs(name: "sidecar \(uid)", eventLoop: eventLoop, pool: pool)
        proxy = L4Proxy(inputs: inputs, mode: .inPod, serves: { $0.uid == uid }, servedHere: { _ in false })
    }

    /// Takes a pushed update: re-authorizes open connections, and starts listening in the pod once
    /// the config names it.
    public func apply(_ update: ZTunnelUpdate) -> EventLoopFuture<Void> {
        inputs.eventLoop.flatSubmit {
            do { try self.inputs.install(update) } catch { return self.inputs.eventLoop.makeFailedFuture(error) }
            self.proxy.manager.reauthorize()
            guard self.listeners == nil, let pod = self.inputs.mesh?.workload(uid: self.uid) else { return self.inputs.eventLoop.makeSucceededVoidFuture() }
            return self.capture(pod)
        }
    }

    public func dump() -> EventLoopFuture<ZTunnelDump> {
        inputs.eventLoop.submit {
            ZTunnelDump(node: self.inputs.name, config: self.inputs.config, identities: self.inputs.tls?.heldIdentities.map(\.uri) ?? [],
                        capturedWorkloads: self.listeners == nil ? [] : [self.uid], openConnections: self.proxy.manager.tracked.count,
                        pooledConnections: self.proxy.pool.pooledConnections)
        }
    }

    public func renderMetrics() -> String { inputs.metrics.render() + requestMetrics.render() }

    /// Opens 15001, 15006 and 15008 inside the pod's netns.
    private func capture(_ pod: Workload) -> EventLoopFuture<Void> {
        proxy.listen(in: pod.netns, outbound: { self.outbound($0, from: pod) }, plaintext: { self.inboundPlaintext($0, at: pod) },
                     hbone: { _ in pod }, accept: accept)
            .map { self.listeners = $0 }
    }

    /// Captured on 15001: a call from the pod's app. HTTP is routed at the client; anything else
    /// goes ztunnel's outbound way.
    private func outbound(_ downstream: Channel, from pod: Workload) {
        PodSockets.originalDestination(downstream).hop(to: inputs.eventLoop).whenComplete { result in
            guard case .success(let (ip, port)) = result else {
                downstream.close(promise: nil)
                return
            }
            let target = L7Proxy.Target(ip: ip, port: port, service: self.inputs.mesh?.service(vip: ip), workload: self.inputs.mesh?.workload(at: ip))
            self.serveL7(downstream, leg: .sidecarOutbound, pod: pod, target: target) { self.proxy.outbound.forward($0, from: pod, to: ip, port: port) }
        }
    }

    /// Captured on 15006: a plaintext call to the pod's app. HTTP is authorized request by request;
    /// anything else at L4, as ztunnel's inbound passthrough does.
    private func inboundPlaintext(_ downstream: Channel, at pod: Workload) {
        proxy.passthrough.originalDestination(of: downstream) { ip, port in
            guard !self.proxy.passthrough.refusesSelfCall(downstream, ip: ip, port: port) else { return }
            self.serveL7(downstream, leg: .sidecarInbound, pod: pod, target: L7Proxy.Target(ip: ip, port: port, workload: pod)) {
                self.proxy.passthrough.forward($0, to: pod, ip: ip, port: port)
            }
        }
    }

    /// An HBONE stream from another sidecar (mutual TLS, the caller's identity known), past ztunnel's
    /// inbound checks: answered 200 at once, then HTTP goes through the L7 proxy (the stream's arrival
    /// and end logged with both identities) and anything else is authorized at L4 and joined to the app.
    private func accept(_ headers: HPACKHeaders, stream: Channel, connection: Channel) -> EventLoopFuture<HBONEStream.Acceptance> {
        let request: Inbound.Request
        switch proxy.inbound.resolve(headers, connection: connection) {
        case .refused(let answer): return answer
        case .resolved(let resolved): request = resolved
        }
        let (pod, port, peer, sourceIP, event) = (request.target, request.connect.port, request.peer, request.sourceIP, request.event)
        let facts = ConnectionFacts(sourceIdentity: peer, sourceIP: sourceIP, destinationIP: pod.address, destinationPort: port, destination: pod)
        let target = L7Proxy.Target(ip: pod.address, port: port, workload: pod)
        let source = event.srcAddr ?? sourceIP
        let l7 = l7Inputs
        return inputs.eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: 200) {
            do {
                try L7Proxy.serve(stream, proxy: {
                    L7Proxy(inputs: l7, leg: .sidecarInbound, proxied: pod, peer: peer, source: source, target: target, http2Upstreams: $0, arrival: event)
                }) { stream in
                    var event = event
                    guard self.proxy.manager.admit(facts, &event) else {
                        event.event = .refused
                        self.inputs.log.write(event)
                        stream.close(promise: nil)
                        return
                    }
                    self.proxy.manager.deliver(stream, to: pod.address, port: port, from: pod.netns, source: sourceIP, facts: facts, event: event)
                }
                try Holdback.handOver(stream)
            } catch {
                stream.close(promise: nil)
            }
        })
    }

    private func serveL7(_ downstream: Channel, leg: ProxyLeg, pod: Workload, target: L7Proxy.Target, tcp: @escaping (Channel) -> Void) {
        let source = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        let l7 = l7Inputs
        do {
            try L7Proxy.serve(downstream, proxy: { L7Proxy(inputs: l7, leg: leg, proxied: pod, peer: nil, source: source, target: target, http2Upstreams: $0) }, tcp: tcp)
            try Holdback.handOver(downstream)
        } catch {
            downstream.close(promise: nil)
        }
    }

    private var l7Inputs: L7Inputs {
        L7Inputs(log: inputs.log, requestMetrics: requestMetrics, routes: routes, ids: inputs.ids, randomIDs: inputs.randomIDs,
                 mesh: { [inputs] in inputs.mesh }, forwarder: proxy.forwarder, opener: UpstreamOpener(pool: proxy.pool, forwarder: proxy.forwarder), upstreams: self)
    }
}

extension Sidecar: L7Upstreams {
    /// Out: where the mesh sends a call (HBONE to an ambient pod or a waypoint, plain TCP to a
    /// sidecar's pod or outside the mesh). In: to the app beside the sidecar, from the caller's own
    /// address (the pod sees who called).
    func upstream(on leg: ProxyLeg, of proxied: Workload, to target: L7Proxy.Target, sourceIP: String) -> Upstream? {
        guard leg == .sidecarOutbound else {
            return Upstream(workload: proxied, carrier: .plain(host: target.ip, port: target.port, netns: proxied.netns, source: sourceIP))
        }
        switch proxy.outbound.route(from: proxied, to: target.ip, port: target.port) {
        case .refuse, .selfCall: return nil
        case .hbone(let next, let authority, _): return Upstream(workload: next, carrier: .hbone(next, authority: authority))
        case .passthrough(let host, let port, let workload, _):
            return Upstream(workload: workload, carrier: .plain(host: host, port: port, netns: proxied.netns, source: nil))
        }
    }

    /// The pod's own policies, the ones ztunnel would enforce for it.
    func policies(on leg: ProxyLeg, of proxied: Workload) -> [Authorization] { inputs.config?.l4Policies ?? [] }
}
