import Dataplane

/// Seed 003's packet lifecycle: the first packet of a connection is redirected to ztunnel by a
/// rule and resolved there; every later packet follows conntrack's established entry and skips
/// the rules; later connections to the same destination reuse the HBONE tunnel.
extension Evidence {
    /// The caller's conntrack entries for these calls' connections (by the client's own address).
    var callerConnections: [ConntrackEntry] {
        let sources = Set(calls.compactMap(\.source))
        return conntrack.filter { $0.original.source == callerIP && sources.contains("\(callerIP):\($0.original.sourcePort)") }
    }

    /// Each connection sent `firstPackets` packets down the first-packet path (the redirect rule in
    /// the caller's netns) and every later packet on conntrack's established path.
    public func fastPath(firstPackets: Int) -> Verdict {
        let connections = callerConnections
        let redirected = ruleHits.filter { $0.rule.hasPrefix("nat ") && $0.rule.contains("REDIRECT --to-ports 15001") }
        let ruled = redirected.reduce(0) { $0 + $1.packets }
        let outgoing = connections.reduce(0) { $0 + $1.originalPackets }
        let toZTunnel = connections.filter { $0.translated && $0.reply.sourcePort == 15001 }
        let expected = "each connection: \(firstPackets) packet(s) through the redirect rule, the rest on conntrack's established path"
        let connected = calls.filter { $0.source != nil }.count
        let actual = "\(connected) connection(s), \(connections.count) in conntrack (\(toZTunnel.count) NATed to ztunnel 15001): "
            + "\(outgoing) outgoing packets, \(ruled) through the redirect rule, \(max(0, outgoing - ruled)) on the established path"
        let passed = connected > 0 && connections.count == connected && toZTunnel.count == connected
            && ruled == firstPackets * connected && outgoing > ruled
        return Verdict(passed: passed, expected: expected, actual: actual,
                       evidence: redirected.map { "\($0.netns): \($0.rule) [\($0.packets) packet(s)]" } + connections.map { "conntrack: \($0)" })
    }

    /// The calls' tunnels: this many HBONE (mTLS + HTTP/2) connections carried this many CONNECT streams.
    public func hboneReuse(connections: Int, streams: Int) -> Verdict {
        let tunnels = events.filter { $0.direction == "outbound" && $0.event == .opened && $0.hboneConnection != nil
            && $0.srcAddr?.hasPrefix(callerIP + ":") == true }
        let used = Set(tunnels.compactMap(\.hboneConnection))
        return Verdict(passed: used.count == connections && tunnels.count == streams,
                       expected: "\(streams) stream(s) over \(connections) HBONE connection(s)",
                       actual: "\(tunnels.count) stream(s) over \(used.count) HBONE connection(s)",
                       evidence: tunnels.map { "[\($0.id)] stream on \($0.hboneConnection ?? "?") to \($0.dstHboneAddr ?? "?")" })
    }
}
