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

    private func serveL7(_ downstream: Channel, leg: ProxyLeg, pod: Workload, target: L7Proxy.Target, tcp: @escaping (Channel) -> Void) {
        let source = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "?"
        do {
            try L7Proxy.serve(downstream, proxy: { L7Proxy(ztunnel: self, leg: leg, proxied: pod, peer: nil, source: source, target: target) }, tcp: tcp)
        } catch {
            downstream.close(promise: nil)
        }
    }
}
