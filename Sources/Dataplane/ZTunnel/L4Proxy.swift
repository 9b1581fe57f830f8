import NIOCore

/// ztunnel's proxy (src/proxy.rs `Proxy`): inbound (15008), inbound passthrough (15006) and outbound
/// (15001) over one set of inputs, with the HBONE pool and the connection manager they share. A
/// ztunnel is one; a sidecar runs one for the traffic it does not serve at L7.
final class L4Proxy: @unchecked Sendable {  // used on its process's one event loop
    let inputs: ProxyInputs
    let forwarder: Forwarder
    /// Authorizes inbound connections and re-authorizes them on every policy change.
    let manager: ConnectionManager
    /// Outbound HBONE connections, shared by every outbound path.
    let pool: HBONEClientPool
    /// 15008's listeners, told to go away on drain.
    let server: HBONEServer
    let inbound: Inbound
    let passthrough: InboundPassthrough
    let outbound: Outbound

    /// `serves`: whether a workload's inbound traffic is this proxy's. `servedHere`: whether a
    /// destination is reached without leaving this proxy (node-level ztunnel's same-node path).
    init(inputs: ProxyInputs, mode: CaptureMode, serves: @escaping (Workload) -> Bool, servedHere: @escaping (Workload) -> Bool) {
        self.inputs = inputs
        forwarder = Forwarder(inputs: inputs)
        manager = ConnectionManager(inputs: inputs, forwarder: forwarder)
        pool = HBONEClientPool(inputs: inputs, mode: mode)
        server = HBONEServer(inputs: inputs)
        inbound = Inbound(inputs: inputs, manager: manager, forwarder: forwarder, mode: mode, serves: serves)
        passthrough = InboundPassthrough(inputs: inputs, manager: manager, mode: mode)
        outbound = Outbound(inputs: inputs, forwarder: forwarder, manager: manager, pool: pool, endpoints: EndpointPicker(), mode: mode,
                            servedHere: servedHere)
    }

    /// Opens 15001, 15006 and 15008 (transparent, so TPROXY rules may hand them connections too)
    /// inside `netns`; each accepted connection goes to its handler. Returns the three listeners.
    func listen(in netns: String, outbound: @escaping @Sendable (Channel) -> Void, plaintext: @escaping @Sendable (Channel) -> Void,
                hbone destination: @escaping @Sendable (Channel) -> Workload?, accept: @escaping HBONEServer.Accept) -> EventLoopFuture<[Channel]> {
        let sockets = inputs.pool.runIfActive(eventLoop: inputs.eventLoop) {
            try [15001, 15006, 15008].map { try PodSockets.listen(netns: netns, port: $0, transparent: true) }
        }
        return sockets.flatMap { fds in
            let outbound = self.inputs.listen(fds[0], accept: outbound)
            let plaintext = self.inputs.listen(fds[1], accept: plaintext)
            let hbone = self.server.serve(fds[2], for: destination, accept: accept)
            return outbound.and(plaintext).and(hbone).map { listeners in [listeners.0.0, listeners.0.1, listeners.1] }
        }
    }
}
