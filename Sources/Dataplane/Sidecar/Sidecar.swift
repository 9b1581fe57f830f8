import NIOCore

/// The sidecar role's L7 side: connections captured in its pod are sniffed, HTTP goes through the
/// L7 proxy (client-side routing on the way out; per-request authorization on the way in), and
/// anything else stays on the L4 path a ztunnel would take.
extension ZTunnel {
    /// Captured on 15001: a call from the pod's app to `ip:port`.
    func sidecarOutbound(_ downstream: Channel, from pod: Workload, to ip: String, port: Int, tcp: @escaping (Channel) -> Void) {
        let target = L7Proxy.Target(ip: ip, port: port, service: mesh?.service(vip: ip), workload: mesh?.workload(at: ip))
        serveL7(downstream, leg: .sidecarOutbound, pod: pod, target: target, tcp: tcp)
    }

    /// Captured on 15006: a plaintext call to the pod's app at `ip:port`.
    func sidecarInbound(_ downstream: Channel, at pod: Workload, ip: String, port: Int, tcp: @escaping (Channel) -> Void) {
        serveL7(downstream, leg: .sidecarInbound, pod: pod, target: L7Proxy.Target(ip: ip, port: port, workload: pod), tcp: tcp)
    }

    /// An HBONE stream from another sidecar (mutual TLS, the caller's identity known): answered 200
    /// at once, then HTTP goes through the L7 proxy (the stream's arrival and end logged with both
    /// identities) and anything else is authorized at L4 and joined to the app.
    func acceptAtSidecar(_ pod: Workload, port: Int, peer: SpiffeID?, sourceIP: String, event: ConnectionEvent, stream: Channel)
        -> EventLoopFuture<HBONEStream.Acceptance>
    {
        let facts = ConnectionFacts(sourceIdentity: peer, sourceIP: sourceIP, destinationIP: pod.address, destinationPort: port, destination: pod)
        let target = L7Proxy.Target(ip: pod.address, port: port, workload: pod)
        let source = event.srcAddr ?? sourceIP
        return eventLoop.makeSucceededFuture(HBONEStream.Acceptance(status: 200) {
            do {
                try L7Proxy.serve(stream, proxy: {
                    L7Proxy(ztunnel: self, leg: .sidecarInbound, proxied: pod, peer: peer, source: source, target: target, http2Upstreams: $0, arrival: event)
                }) { stream in
                    var event = event
                    guard self.admit(facts, &event) else {
                        event.event = .refused
                        self.log.write(event)
                        stream.close(promise: nil)
                        return
                    }
                    self.deliver(stream, to: pod.address, port: port, from: pod.netns, source: sourceIP, facts: facts, event: event)
                }
                try Holdback.handOver(stream)
            } catch {
                stream.close(promise: nil)
            }
        })
    }

    private func serveL7(_ downstream: Channel, leg: ProxyLeg, pod: Workload, target: L7Proxy.Target, tcp: @escaping (Channel) -> Void) {
        let source = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        do {
            try L7Proxy.serve(downstream, proxy: { L7Proxy(ztunnel: self, leg: leg, proxied: pod, peer: nil, source: source, target: target, http2Upstreams: $0) }, tcp: tcp)
            try Holdback.handOver(downstream)
        } catch {
            downstream.close(promise: nil)
        }
    }
}
