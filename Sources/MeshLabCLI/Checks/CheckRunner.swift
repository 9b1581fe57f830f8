import Assertions
import Dataplane
import Foundation
import MeshLab
import Netns

/// Runs a lab's checks against the running lab: drives the calls from the pod's netns with the
/// bundled client, collects what the ztunnels logged meanwhile, and judges every expectation.
struct CheckRunner {
    let directory: StateDirectory
    let topology: Topology
    /// `trace` shows the kernel's hops whatever the expectations.
    var alwaysReadCounters = false

    func run(_ check: Check) throws -> CheckResult { try runWithEvidence(check).0 }

    /// Runs the check and also returns the evidence it was judged from.
    func runWithEvidence(_ check: Check) throws -> (CheckResult, Evidence, [RuleHit]) {
        let started = Date()
        let caller = topology.pod(check.from)!
        let logs = topology.ztunnels.map { directory.log(for: "ztunnel-\($0.node)") }
        let offsets = logs.map(Self.size)
        // Redirect rule counters at both ends, for the kernel's part of a path (read only when one is expected).
        let ends = check.expect.contains(where: \.needsRuleCounters) || alwaysReadCounters
            ? [caller] + (destinationPod(check).map { [$0] } ?? []) : []
        let countersBefore = try ends.map { try RuleCounters.read(in: $0.netns) }
        let output = try NetnsCommand.run(Orchestrator.executable, clientArguments(check), in: caller.netns)
        let calls = output.output.split(separator: "\n").compactMap { try? Self.decoder.decode(CallResult.self, from: Data($0.utf8)) }
        let events = zip(logs, offsets).flatMap { Self.events(in: $0, from: $1) }
        let ruleHits = try zip(ends, countersBefore).flatMap { pod, before in
            try RuleCounters.read(in: pod.netns).moved(since: before).map { RuleHit(netns: pod.netns, rule: $0.rule, packets: $0.packets) }
        }
        let evidence = Evidence(calls: calls, events: events, callerIP: caller.ip.description)
        let verdicts = check.expect.map { judge($0, evidence, caller: check.from, ruleHits: ruleHits) }
        let result = CheckResult(name: check.name, at: check.at.description, passed: !calls.isEmpty && verdicts.allSatisfy(\.passed),
                                 verdicts: verdicts, seconds: Date().timeIntervalSince(started),
                                 problem: calls.isEmpty ? "the client made no calls: \(output.output.prefix(300))" : nil)
        return (result, evidence, ruleHits)
    }

    private func clientArguments(_ check: Check) -> [String] {
        let address: String
        switch check.to {
        case .pod(let pod, let port): address = "\(topology.pod(pod)!.ip):\(port)"
        case .service(let service, let port): address = "\(topology.services.first { "\($0.namespace)/\($0.name)" == service }!.vip):\(port)"
        case .address(let ip, let port): address = "\(ip):\(port)"
        }
        return ["client", "\(check.protocol.rawValue)://\(address)/", "-n", String(check.count), "--payload", String(check.payload), "--timeout", "3"]
    }

    /// The destination pod when it is in the mesh (its redirect rules are part of the path).
    private func destinationPod(_ check: Check) -> Topology.PodInfo? {
        guard case .pod(let pod, _) = check.to, let info = topology.pod(pod), info.mode == .ambient else { return nil }
        return info
    }

    func judge(_ expectation: Expectation, _ evidence: Evidence, caller: String, ruleHits: [RuleHit]) -> Verdict {
        switch expectation {
        case .ok: evidence.allSucceeded()
        case .failed(let outcome): evidence.allFailed(outcome)
        case .status(let code): evidence.allAnswered(status: code)
        case .reachedAny(let pods): evidence.answered(byAnyOf: pods)
        case .spreadOver(let pods): evidence.spread(over: pods)
        case .sourcePreserved(let preserved): evidence.sourcePreserved(preserved)
        case .mtls(let client, let server): evidence.mutualTLS(client: client, server: server)
        case .plaintext: evidence.plaintext()
        case .policy(let allowed, let policy, let reason): evidence.policyDecision(allowed: allowed, policy: policy, reason: reason)
        case .path(let hops): evidence.followed(hops, from: caller, ruleHits: ruleHits)
        case .all(let parts): .all(parts.map { judge($0, evidence, caller: caller, ruleHits: ruleHits) })
        case .any(let parts): .any(parts.map { judge($0, evidence, caller: caller, ruleHits: ruleHits) })
        }
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    static func size(_ url: URL) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The JSON events appended to a log after `offset`.
    static func events(in url: URL, from offset: UInt64) -> [ConnectionEvent] {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(ConnectionEvent.self, from: Data($0)) }
    }
}

extension Expectation {
    var needsRuleCounters: Bool {
        switch self {
        case .path: true
        case .all(let parts), .any(let parts): parts.contains(where: \.needsRuleCounters)
        default: false
        }
    }
}

/// A check's outcome, as reporters show it.
public struct CheckResult: Codable, Sendable {
    public var name: String
    public var at: String
    public var passed: Bool
    public var verdicts: [Verdict]
    public var seconds: Double
    /// Why no verdict could be reached at all.
    public var problem: String?
}
