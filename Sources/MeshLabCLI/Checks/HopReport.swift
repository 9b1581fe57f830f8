import Assertions
import Dataplane
import MeshLab

/// One traced call as numbered hops, each with its evidence: the kernel rule that captured it, the
/// ztunnel events on each side (joined by the caller's address), and what the server saw.
struct HopReport {
    var topology: Topology
    var caller: Topology.PodInfo
    var evidence: Evidence
    var redirectRules: [(rule: String, packets: Int)]
    /// The destination pod (when in the mesh) and the rules that counted packets there.
    var destinationRules: (Topology.PodInfo, [(rule: String, packets: Int)])?

    func render() -> String {
        var hops: [String] = []
        let call = evidence.calls.first
        hops.append("pod \(caller.id) (\(caller.ip), node \(caller.node)) calls \(call?.target ?? "?")")
        if let capture = redirectRules.first(where: { $0.rule.contains("REDIRECT") }) {
            hops.append("captured in netns \(caller.netns): \(capture.rule)  [\(capture.packets) packet(s)]")
        } else if caller.mode == .ambient {
            hops.append("not captured: no redirect rule in \(caller.netns) counted a packet")
        }
        let outbound = evidence.events.filter { $0.direction == "outbound" && $0.srcAddr?.hasPrefix(caller.ip.description + ":") == true }
        if let opened = outbound.first(where: { $0.event == .opened || $0.event == .refused }) {
            let node = opened.id.split(separator: "-").dropLast().joined(separator: "-")
            hops.append("ztunnel \(node) outbound [\(opened.id)]: \(opened.srcIdentity ?? "?") → \(opened.dstWorkload ?? opened.dstAddr ?? "?")"
                + (opened.dstService.map { " via service \($0)" } ?? "") + (opened.reason.map { " — \($0)" } ?? ""))
            if let hbone = opened.dstHboneAddr {
                hops.append("HBONE: mutual TLS + HTTP/2 CONNECT \(opened.dstAddr ?? "") to \(hbone), expecting \(opened.dstIdentity ?? "?")")
            } else if opened.event == .opened {
                hops.append("plaintext TCP to \(opened.dstAddr ?? "?") (destination outside the mesh)")
            }
        }
        if let (pod, rules) = destinationRules, let capture = rules.first(where: { $0.rule.contains("REDIRECT --to-ports 15006") }) {
            hops.append("captured in netns \(pod.netns): \(capture.rule)  [\(capture.packets) packet(s)]")
        }
        let inbound = evidence.events.filter { $0.direction == "inbound" && $0.srcAddr?.hasPrefix(caller.ip.description + ":") == true }
        for event in inbound where event.event == .policy || event.event == .refused {
            let node = event.id.split(separator: "-").dropLast().joined(separator: "-")
            let how = event.srcIdentity.map { "over HBONE as \($0)" } ?? "in plaintext (port 15006, no identity)"
            hops.append("ztunnel \(node) inbound [\(event.id)] \(how): "
                + (event.allowed.map { $0 ? "allowed" : "DENIED" } ?? "refused") + (event.policy.map { " by \($0)" } ?? "") + (event.reason.map { " — \($0)" } ?? ""))
        }
        if let reply = call?.reply {
            hops.append("pod \(reply.pod) (node \(reply.node)) answered over \(reply.protocol), seeing source \(reply.source)")
        } else if let call {
            hops.append("no answer: \(call.outcome.rawValue)\(call.error.map { " (\($0))" } ?? "")")
        }
        return hops.enumerated().map { "\($0.offset + 1). \($0.element)" }.joined(separator: "\n")
    }
}
