import NIOCore

/// ztunnel's inbound passthrough (src/proxy/inbound_passthrough.rs): plaintext on 15006 from
/// outside the mesh, authorized without an identity and joined to the workload it was sent to.
final class InboundPassthrough: @unchecked Sendable {  // used on its process's one event loop
    private let inputs: ProxyInputs
    private let manager: ConnectionManager
    private let mode: CaptureMode

    init(inputs: ProxyInputs, manager: ConnectionManager, mode: CaptureMode) {
        self.inputs = inputs
        self.manager = manager
        self.mode = mode
    }

    /// Where a connection captured in a pod was going: its NAT record (REDIRECT), or else its local
    /// address (TPROXY, the older in-pod form, leaves no NAT record).
    func originalDestination(of downstream: Channel, then serve: @escaping @Sendable (_ ip: String, _ port: Int) -> Void) {
        PodSockets.originalDestination(downstream).hop(to: inputs.eventLoop).whenComplete { result in
            switch result {
            case .success(let (ip, port)):
                serve(ip, port)
            case .failure:
                guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port else {
                    downstream.close(promise: nil)
                    return
                }
                serve(ip, port)
            }
        }
    }

    /// Refuses a connection to one of the proxy's own ports: passed on, a connection to 15006 would
    /// come straight back here, and so on without end. Returns whether it did.
    func refusesSelfCall(_ downstream: Channel, ip: String, port: Int) -> Bool {
        guard SelfCall.illegalPorts.contains(port) else { return false }
        inputs.refuseSelfCall(downstream, direction: "inbound", dstAddr: "\(ip):\(port)")
        return true
    }

    /// Authorizes a plaintext connection to `workload` at `ip:port` and delivers it there.
    func forward(_ downstream: Channel, to workload: Workload, ip: String, port: Int) {
        var event = ConnectionEvent(event: .opened, id: inputs.nextID(), direction: "inbound")
        let sourceIP = downstream.remoteAddress?.ipAddress ?? "?"
        event.srcAddr = downstream.remoteAddress.map { "\(sourceIP):\($0.port ?? 0)" }
        event.dstAddr = "\(ip):\(port)"
        event.dstWorkload = workload.name
        event.dstIdentity = inputs.identity(of: workload).uri
        // Only ztunnel may open a waypoint's PROXY port: a header there is believed (the caller's identity).
        if port == workload.proxyProtocolPort {
            event.event = .refused
            event.reason = "plaintext to the PROXY protocol port of \(workload.namespace)/\(workload.name): only ztunnel connects there"
            inputs.log.write(event)
            downstream.close(promise: nil)
            return
        }
        let facts = ConnectionFacts(sourceIdentity: nil, sourceIP: sourceIP, destinationIP: ip, destinationPort: port, destination: workload)
        guard manager.admit(facts, &event) else {
            event.event = .refused
            inputs.log.write(event)
            downstream.close(promise: nil)
            return
        }
        manager.deliver(downstream, to: ip, port: port, from: mode.placement(for: workload).netns, source: sourceIP, facts: facts, event: event)
    }
}
