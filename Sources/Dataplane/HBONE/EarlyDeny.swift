import NIOCore

extension HBONEServer {
    /// ztunnel's `log_early_deny` (src/proxy/metrics.rs), which its inbound calls when the TLS accept
    /// fails (src/proxy/inbound.rs): a connection refused before there is a workload or identity to
    /// log, as one `failed` inbound event with who connected, the address it reached, and why.
    /// Only refusals of a client's certificate are logged; a bare connect-and-close is no event.
    func logEarlyDeny(_ error: Error, on connection: Channel) {
        guard let refusal = error as? HBONEError, case .refusedPeer = refusal else { return }
        var event = ConnectionEvent(event: .failed, id: inputs.nextID(), direction: "inbound")
        event.srcAddr = connection.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        event.dstHboneAddr = connection.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
        event.error = refusal.description
        inputs.log.write(event)
    }
}
