import Dataplane

/// What a check's calls left behind: the client's per-call results, every connection event the
/// ztunnels logged while the calls ran, and the kernel's side (rule counters, conntrack, captures).
public struct Evidence: Sendable {
    public var calls: [CallResult]
    public var events: [ConnectionEvent]
    /// The calling pod's address, to tell its connections from others in the logs.
    public var callerIP: String
    /// Redirect rules whose counters moved during the calls, in the caller's and destination's netns.
    public var ruleHits: [RuleHit] = []
    /// Frames the nodes' Geneve tunnels carried into ztunnel during the calls (node-level mode).
    public var tunnelHits: [TunnelHit] = []
    /// What the nodes' eBPF programs did during the calls (eBPF mode).
    public var programHits: [ProgramHit] = []
    /// The conntrack table after the calls where the caller's connections are tracked: its own netns
    /// (in-pod), or its node's (node level).
    public var conntrack: [ConntrackEntry] = []
    /// The lab's redirection mode (`inpod`, `iptables`, `ebpf`), which decides what the fast path looks like.
    public var redirect = "inpod"
    /// Packets captured on named links while the calls ran.
    public var captures: [LinkCapture] = []
    /// A marker the client put in every request, to look for on the wire.
    public var canary: String?

    public init(calls: [CallResult], events: [ConnectionEvent], callerIP: String) {
        self.calls = calls
        self.events = events
        self.callerIP = callerIP
    }

    /// Events the destination side logged for these calls: by the source address each reply names,
    /// or, for calls without a reply, by the caller's address.
    var inbound: [ConnectionEvent] {
        let sources = Set(calls.compactMap { $0.reply?.source })
        return events.filter { event in
            guard event.direction == "inbound", let source = event.srcAddr else { return false }
            return sources.contains(source) || source.hasPrefix(callerIP + ":")
        }
    }

    func describe(_ call: CallResult) -> String {
        let answer = call.reply.map { "answered by \($0.pod) (saw source \($0.source))" } ?? call.error ?? "no answer"
        return "call \(call.call) → \(call.target): \(call.outcome.rawValue)\(call.status.map { " \($0)" } ?? ""), \(answer)"
    }

    func describe(_ event: ConnectionEvent) -> String {
        [event.id, event.event.rawValue, event.srcAddr.map { "src \($0)" }, event.srcIdentity.map { "as \($0)" },
         event.dstAddr.map { "→ \($0)" }, event.dstIdentity.map { "(\($0))" }, event.policy.map { "policy \($0)" },
         event.reason].compactMap { $0 }.joined(separator: " ")
    }
}
