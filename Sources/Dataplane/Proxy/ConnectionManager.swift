import NIOCore

/// L4 authorization of inbound connections, and the connections it let in, kept so a policy change
/// re-authorizes them (ztunnel's src/proxy/connection_manager.rs): one that policies now deny is closed.
final class ConnectionManager: @unchecked Sendable {  // used on its process's one event loop
    /// An inbound connection kept for re-authorization when policies change.
    struct TrackedConnection {
        var facts: ConnectionFacts
        var channels: [Channel]
        var event: ConnectionEvent
    }

    private let inputs: ProxyInputs
    private let forwarder: Forwarder
    private(set) var tracked: [String: TrackedConnection] = [:]

    init(inputs: ProxyInputs, forwarder: Forwarder) {
        self.inputs = inputs
        self.forwarder = forwarder
    }

    /// Authorizes and logs the decision. Returns whether the connection may proceed.
    func admit(_ facts: ConnectionFacts, _ event: inout ConnectionEvent) -> Bool {
        let decision = authorize(facts, policies: inputs.config?.l4Policies ?? [])
        var policyEvent = event
        policyEvent.event = .policy
        policyEvent.allowed = decision.allowed
        policyEvent.policy = decision.policy
        policyEvent.reason = decision.reason + (decision.dryRunMatches.isEmpty ? "" : "; dry-run matched \(decision.dryRunMatches.joined(separator: ","))")
        inputs.log.write(policyEvent)
        event.reason = policyEvent.reason
        event.policy = decision.policy
        return decision.allowed
    }

    /// Connects to an authorized connection's workload and joins the two, tracked for re-authorization;
    /// logs `opened`, or `failed` and closes the downstream.
    func deliver(_ downstream: Channel, to ip: String, port: Int, from netns: String, source: String?, facts: ConnectionFacts,
                 event: ConnectionEvent) {
        let started = ContinuousClock.now
        forwarder.connect(netns: netns, host: ip, port: port, source: source).whenComplete { result in
            switch result {
            case .success(let upstream):
                self.inputs.log.write(event)
                self.track(event.id, facts: facts, event: event, started: started, downstream: downstream, upstream: upstream)
            case .failure(let error):
                self.inputs.log.write(event.failed(error))
                downstream.close(promise: nil)
            }
        }
    }

    /// Glues an admitted connection to its upstream, counted in the TCP metrics, and keeps it until it closes.
    func track(_ id: String, facts: ConnectionFacts, event: ConnectionEvent, started: ContinuousClock.Instant, downstream: Channel, upstream: Channel) {
        tracked[id] = TrackedConnection(facts: facts, channels: [downstream, upstream], event: event)
        let labels = TCPMetrics.Labels(
            // A source with a verified identity is a mesh workload: name it, as Istio's peer metadata does.
            reporter: "destination",
            sourceWorkload: facts.sourceIdentity == nil ? "unknown" : inputs.mesh?.workload(at: facts.sourceIP)?.name ?? "unknown",
            sourceNamespace: facts.sourceIdentity?.namespace ?? "unknown",
            sourcePrincipal: facts.sourceIdentity?.uri ?? "unknown", destinationWorkload: facts.destination.name,
            destinationNamespace: facts.destination.namespace, destinationPrincipal: inputs.identity(of: facts.destination).uri,
            securityPolicy: facts.sourceIdentity == nil ? "unknown" : "mutual_tls", responseFlags: "-")
        inputs.metrics.opened(labels)
        forwarder.glue(downstream, upstream) { received, sent in
            self.tracked[id] = nil
            self.inputs.metrics.closed(labels, received: received, sent: sent)
            self.inputs.log.write(event.closed(sent: sent, received: received, since: started))
        }
    }

    /// After a policy change: close every open inbound connection that policies now deny.
    func reauthorize() {
        for (id, connection) in tracked {
            let decision = authorize(connection.facts, policies: inputs.config?.l4Policies ?? [])
            guard !decision.allowed else { continue }
            var event = connection.event
            event.event = .policy
            event.allowed = false
            event.policy = decision.policy
            event.reason = "\(decision.reason) (policy changed; connection closed)"
            inputs.log.write(event)
            connection.channels.forEach { $0.close(promise: nil) }
            tracked[id] = nil
        }
    }
}
