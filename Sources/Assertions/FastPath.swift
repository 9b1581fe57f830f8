import Dataplane
import MeshLab

/// The in-pod packet lifecycle: the first packet of a connection is redirected to ztunnel by a
/// rule and resolved there; every later packet follows conntrack's established entry and skips
/// the rules; later connections to the same destination reuse the HBONE tunnel.
extension Evidence {
    /// The caller's conntrack entries for these calls' connections (by the client's own address).
    var callerConnections: [ConntrackEntry] {
        let sources = Set(calls.compactMap(\.source))
        return conntrack.filter { $0.original.source == callerIP && sources.contains("\(callerIP):\($0.original.sourcePort)") }
    }

    /// Each connection sent `firstPackets` packets down the first-packet path and every later packet
    /// on conntrack's established path: in-pod, the redirect rule vs the NATed conntrack entry in the
    /// caller's netns; node level, the node's ipset mark rule vs its connmark (0x210) rule.
    public func fastPath(firstPackets: Int) -> Verdict {
        switch redirect {
        case "iptables": nodeFastPath(firstPackets: firstPackets)
        case "ebpf": ebpfFastPath(firstPackets: firstPackets)
        default: inPodFastPath(firstPackets: firstPackets)
        }
    }

    private func inPodFastPath(firstPackets: Int) -> Verdict {
        let tproxied = ruleHits.filter { $0.rule.contains("TPROXY --on-port 15006") }
        if !tproxied.isEmpty { return tproxyFastPath(firstPackets: firstPackets, tproxied: tproxied) }
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

    /// The older in-pod form, inbound: the destination's TPROXY 15006 rule takes each connection's first
    /// packet; the `--ctstate RELATED,ESTABLISHED` rule in front of it takes every later one.
    private func tproxyFastPath(firstPackets: Int, tproxied: [RuleHit]) -> Verdict {
        let established = ruleHits.filter { $0.rule.contains("--ctstate RELATED,ESTABLISHED -j ACCEPT") }
        let ruled = tproxied.reduce(0) { $0 + $1.packets }, later = established.reduce(0) { $0 + $1.packets }
        let connections = callerConnections
        let connected = calls.filter { $0.source != nil }.count
        let expected = "each connection: \(firstPackets) packet(s) through the TPROXY 15006 rule, the rest through the ctstate ESTABLISHED rule"
        let actual = "\(connected) connection(s), \(connections.count) in the destination's conntrack: "
            + "\(ruled) packet(s) through TPROXY 15006, \(later) through the ctstate rule"
        return Verdict(passed: connected > 0 && ruled == firstPackets * connected && later > 0, expected: expected, actual: actual,
                       evidence: (tproxied + established).map { "\($0.netns): \($0.rule) [\($0.packets) packet(s)]" } + connections.map { "conntrack: \($0)" })
    }

    /// Node level: the first packet of each connection is marked 0x100 by the ipset rule and routed
    /// through istioout; once ztunnel's reply set connmark 0x210, every later packet matches the
    /// connmark rule instead (mark 0x040, straight back to ztunnel).
    private func nodeFastPath(firstPackets: Int) -> Verdict {
        let connections = callerConnections
        let first = ruleHits.filter { $0.rule.contains("--match-set \(NodeIptablesRedirection.podSet) src") }
        let established = ruleHits.filter { $0.rule.contains(Self.connmarkReturnRule) }
        let ruled = first.reduce(0) { $0 + $1.packets }, later = established.reduce(0) { $0 + $1.packets }
        let marked = connections.filter { $0.mark & NodeIptablesRedirection.proxyMark == NodeIptablesRedirection.proxyMark }
        let connected = calls.filter { $0.source != nil }.count
        let expected = "each connection: \(firstPackets) packet(s) through the node's ipset mark rule, the rest on the connmark 0x210 rule"
        let actual = "\(connected) connection(s), \(connections.count) in the node's conntrack (\(marked.count) with mark 0x210): "
            + "\(ruled) packet(s) through the ipset mark rule, \(later) through the connmark rule"
        let passed = connected > 0 && connections.count == connected && marked.count == connected
            && ruled == firstPackets * connected && later > 0
        return Verdict(passed: passed, expected: expected, actual: actual,
                       evidence: (first + established).map { "\($0.netns): \($0.rule) [\($0.packets) packet(s)]" } + connections.map { "conntrack: \($0)" })
    }

    /// eBPF: `ztunnel_tproxy` hands the first packet of each connection to a listener and every later
    /// one to the connection's established socket (its socket lookup is the fast path).
    private func ebpfFastPath(firstPackets: Int) -> Verdict {
        let node = events.first { $0.direction == "outbound" && $0.srcAddr?.hasPrefix(callerIP + ":") == true }?.node
        let mine = programHits.filter { $0.node == node }
        let listener = mine.first { $0.counter == "listener_assigned" }?.count ?? 0
        let established = mine.first { $0.counter == "established_assigned" }?.count ?? 0
        let connected = calls.filter { $0.source != nil }.count
        let expected = "each connection: \(firstPackets) packet(s) to a listener, the rest to the established socket (ztunnel_tproxy)"
        let actual = "\(connected) connection(s): on \(node ?? "no ztunnel"), \(listener) packet(s) assigned to a listener, \(established) to established sockets"
        return Verdict(passed: connected > 0 && listener == firstPackets * connected && established > 0, expected: expected, actual: actual,
                       evidence: programHits.map { "\($0.node): \($0.counter) +\($0.count)" })
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
