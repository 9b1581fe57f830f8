import Dataplane
import MeshLab

/// One hop of a connection's path, as `meshlab trace` prints it and `.path([...])` matches it.
public struct Hop: Codable, Hashable, Sendable {
    /// What the hop is, in the words a path expectation uses: `pod ambient/sleep-a`,
    /// `redirect 15001`, `ztunnel node-a outbound`, `HBONE`, `plaintext`, `redirect 15006`,
    /// `ztunnel node-b inbound`, `pod ambient/echo-b`; a sidecar shows as `sidecar ns/pod outbound|inbound`.
    public var summary: String
    /// The evidence behind it: the rule, the event, what was seen.
    public var evidence: String
}

/// Packet counters a redirect rule gained during the call, in one pod's or node's netns.
public struct RuleHit: Sendable {
    public var netns: String
    /// The node, when the netns is a node's (node-level redirection).
    public var node: String?
    public var rule: String
    public var packets: Int

    public init(netns: String, node: String? = nil, rule: String, packets: Int) {
        self.netns = netns
        self.node = node
        self.rule = rule
        self.packets = packets
    }
}

extension Evidence {
    /// The path of the first call, joined from the kernel's rule counters and the ztunnels' events
    /// (by the caller's address), ending at the pod that answered.
    public func path(from caller: String) -> [Hop] {
        var hops = [Hop(summary: "pod \(caller)", evidence: "\(callerIP) calls \(calls.first?.target ?? "?")")]
        let mine = { (event: ConnectionEvent) in event.srcAddr?.hasPrefix(callerIP + ":") == true }
        if let capture = ruleHits.first(where: { $0.rule.contains("REDIRECT --to-ports 15001") }) {
            hops.append(Hop(summary: "redirect 15001", evidence: "\(capture.netns): \(capture.rule) [\(capture.packets) packet(s)]"))
        }
        let out = events.first { $0.direction == "outbound" && [.opened, .refused, .request].contains($0.event) && mine($0) }
        // Node level: the node marked the pod's first packet and routed it through istioout.
        if let mark = ruleHits.first(where: { $0.rule.contains("--match-set \(NodeIptablesRedirection.podSet) src") && (out == nil || $0.node == out?.node) }),
           let node = mark.node {
            hops.append(Hop(summary: "node \(node) mark 0x100", evidence: "\(mark.netns): \(mark.rule) [\(mark.packets) packet(s)]"))
        }
        if let program = programHits.first(where: { $0.counter == "outbound_redirected" && $0.node == out?.node }) {
            hops.append(Hop(summary: "app_outbound \(program.node)", evidence: "tc ingress program sent \(program.count) packet(s) to ztunnel's veth"))
        }
        if let tunnel = tunnelHits.first(where: { $0.device == NodeIptablesRedirection.outbound.nodeDevice && $0.node == out?.node }) {
            hops.append(Hop(summary: "istioout \(tunnel.node)", evidence: "Geneve VNI \(tunnel.vni) to pistioout: \(tunnel.frames) frame(s)"))
        }
        if let out {
            hops.append(Hop(summary: "\(out.hop) outbound",
                            evidence: "[\(out.id)] \(out.srcIdentity ?? "?") → \(out.dstWorkload ?? out.dstAddr ?? "?")\(out.reason.map { " — \($0)" } ?? "")"))
            if let hbone = out.dstHboneAddr {
                hops.append(Hop(summary: "HBONE", evidence: "mTLS + HTTP/2 CONNECT \(out.dstAddr ?? "") to \(hbone), expecting \(out.dstIdentity ?? "?")"))
            } else if out.reason == ConnectionEvent.sameNodeReason {
                // Handed to the same ztunnel's inbound side: no transport between them.
            } else if out.event == .opened || out.event == .request {
                hops.append(Hop(summary: "plaintext", evidence: "TCP to \(out.dstAddr ?? "?")"))
            }
        }
        if let capture = ruleHits.first(where: { $0.rule.contains("REDIRECT --to-ports 15006") }) {
            hops.append(Hop(summary: "redirect 15006", evidence: "\(capture.netns): \(capture.rule) [\(capture.packets) packet(s)]"))
        }
        // The first call's inbound decision: the one whose CONNECT carried the outbound event's span
        // id (traceparent), or for plaintext the first from the caller.
        let all = events.filter { $0.direction == "inbound" && ($0.isPolicyDecision || $0.event == .refused) && mine($0) }
        // A waypoint on the way: its L7 decision, then HBONE again to the destination's ztunnel.
        let waypoint = all.first(where: \.isWaypoint)
        if let waypoint {
            hops.append(Hop(summary: waypoint.hop, evidence: "[\(waypoint.id)] \(waypoint.method ?? "") \(waypoint.path ?? "") from \(waypoint.srcIdentity ?? "?"): "
                + "\(waypoint.allowed == true ? "allowed" : "DENIED")\(waypoint.policy.map { " by \($0)" } ?? "")\(waypoint.reason.map { " — \($0)" } ?? "")"))
            if waypoint.allowed == true { hops.append(Hop(summary: "HBONE", evidence: "from the waypoint to \(waypoint.dstWorkload ?? "?")")) }
        }
        let decisions = all.filter { !$0.isWaypoint }
        let parent = waypoint?.id ?? out?.id
        let first = parent.flatMap { parent in decisions.first { $0.traceParent == ConnectionEvent.spanID(for: parent) } } ?? decisions.first
        // Node level, on the destination's node: a new connection is routed through istioin; packets of
        // one ztunnel already answered (a pooled HBONE connection) follow connmark 0x210 straight to it.
        if let event = first, event.node != out?.node {
            if let program = programHits.first(where: { $0.counter == "inbound_redirected" && $0.node == event.node }) {
                hops.append(Hop(summary: "app_inbound \(program.node)", evidence: "tc egress program sent \(program.count) packet(s) to ztunnel's veth"))
            } else if let tunnel = tunnelHits.first(where: { $0.device == NodeIptablesRedirection.inbound.nodeDevice && $0.node == event.node }) {
                hops.append(Hop(summary: "istioin \(tunnel.node)", evidence: "Geneve VNI \(tunnel.vni) to pistioin: \(tunnel.frames) frame(s)"))
            } else if let fast = ruleHits.first(where: { $0.node == event.node && $0.rule.contains(Self.connmarkReturnRule) }) {
                hops.append(Hop(summary: "node \(event.node) connmark 0x210", evidence: "\(fast.netns): \(fast.rule) [\(fast.packets) packet(s)]"))
            }
        }
        if let event = first {
            let how = event.srcIdentity.map { "over HBONE as \($0)" } ?? "in plaintext (no identity)"
            let decision = event.allowed.map { $0 ? "allowed" : "DENIED" } ?? "refused"
            hops.append(Hop(summary: "\(event.hop) inbound",
                            evidence: "[\(event.id)] \(how): \(decision)\(event.policy.map { " by \($0)" } ?? "")\(event.reason.map { " — \($0)" } ?? "")"))
        }
        if let reply = calls.first?.reply {
            hops.append(Hop(summary: "pod \(reply.pod)", evidence: "answered over \(reply.protocol) on node \(reply.node), seeing source \(reply.source)"))
        }
        return hops
    }

    /// The node rule that sends later packets of ztunnel's spoofed connections straight back to it.
    static let connmarkReturnRule = "-m connmark --mark 0x210/0x210 -j MARK --set-xmark 0x40/0x40"

    /// The call took exactly these hops, in order (see `Hop.summary`).
    public func followed(_ expected: [String], from caller: String) -> Verdict {
        let hops = path(from: caller)
        return Verdict(passed: hops.map(\.summary) == expected, expected: "path " + expected.joined(separator: " → "),
                       actual: hops.map(\.summary).joined(separator: " → "), evidence: hops.map { "\($0.summary): \($0.evidence)" })
    }
}
