import Dataplane

/// Judges for each kind of expectation: pure functions of the evidence.
extension Evidence {
    /// Every call succeeded (and, for raw TCP, came back byte for byte).
    public func allSucceeded() -> Verdict {
        let failed = calls.filter { !$0.ok || $0.echoIntact == false }
        return Verdict(passed: !calls.isEmpty && failed.isEmpty, expected: "\(calls.count) calls succeed",
                       actual: failed.isEmpty ? "all succeeded" : "\(failed.count) failed: \(failed.map { $0.ok ? "echo altered" : $0.outcome.rawValue }.joined(separator: ", "))",
                       evidence: calls.map(describe))
    }

    public func allFailed(_ outcome: String) -> Verdict {
        let outcomes = calls.map(\.outcome.rawValue)
        return Verdict(passed: !calls.isEmpty && outcomes.allSatisfy { $0 == outcome }, expected: "every call \(outcome)",
                       actual: outcomes.joined(separator: ", "), evidence: calls.map(describe))
    }

    public func allAnswered(status: Int) -> Verdict {
        let statuses = calls.map { $0.status.map(String.init) ?? $0.outcome.rawValue }
        return Verdict(passed: !calls.isEmpty && calls.allSatisfy { $0.status == status }, expected: "HTTP \(status) to every call",
                       actual: statuses.joined(separator: ", "), evidence: calls.map(describe))
    }

    public func answered(byAnyOf pods: [String]) -> Verdict {
        let answers = calls.map { $0.reply?.pod ?? "(\($0.outcome.rawValue))" }
        return Verdict(passed: !calls.isEmpty && calls.allSatisfy { $0.reply.map { pods.contains($0.pod) } ?? false },
                       expected: "every call answered by \(pods.joined(separator: " or "))",
                       actual: answers.joined(separator: ", "), evidence: calls.map(describe))
    }

    public func spread(over pods: [String]) -> Verdict {
        let answered = Set(calls.compactMap { $0.reply?.pod })
        let missing = pods.filter { !answered.contains($0) }
        return Verdict(passed: missing.isEmpty, expected: "each of \(pods.joined(separator: ", ")) answers at least once",
                       actual: missing.isEmpty ? "all answered" : "never answered: \(missing.joined(separator: ", "))",
                       evidence: calls.map(describe))
    }

    /// Exactly this many calls answered by each pod (weighted routing counted call by call).
    public func split(_ expected: [String: Int]) -> Verdict {
        let answered = Dictionary(calls.compactMap { $0.reply?.pod }.map { ($0, 1) }, uniquingKeysWith: +)
        let text = { (counts: [String: Int]) in counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
        return Verdict(passed: answered == expected.filter { $0.value > 0 }, expected: "answered by " + text(expected),
                       actual: answered.isEmpty ? "no call answered" : "answered by " + text(answered), evidence: calls.map(describe))
    }

    /// Exactly this many calls got each status (calls that got none count under their outcome).
    public func statuses(_ expected: [Int: Int]) -> Verdict {
        let got = Dictionary(calls.map { ($0.status ?? 0, 1) }, uniquingKeysWith: +)
        let text = { (counts: [Int: Int]) in counts.sorted { $0.key < $1.key }.map { "\($0.value)× \($0.key == 0 ? "no answer" : String($0.key))" }.joined(separator: ", ") }
        return Verdict(passed: got == expected.filter { $0.value > 0 }, expected: text(expected), actual: text(got), evidence: calls.map(describe))
    }

    /// Every call took at least this long, end to end as the client measured it.
    public func tookAtLeast(milliseconds: Int) -> Verdict {
        let fastest = calls.map(\.milliseconds).min() ?? 0
        return Verdict(passed: !calls.isEmpty && fastest >= Double(milliseconds), expected: "every call takes at least \(milliseconds) ms",
                       actual: String(format: "the fastest took %.1f ms", fastest), evidence: calls.map(describe))
    }

    public func sourcePreserved(_ preserved: Bool) -> Verdict {
        let seen = calls.compactMap { $0.reply?.sourceIP }
        let passed = !seen.isEmpty && seen.allSatisfy { ($0 == callerIP) == preserved }
        return Verdict(passed: passed, expected: preserved ? "servers see the caller's address \(callerIP)" : "servers see an address other than \(callerIP)",
                       actual: "servers saw \(Set(seen).sorted().joined(separator: ", "))", evidence: calls.map(describe))
    }

    /// Mutual TLS as the destination ztunnel saw it: every answered call arrived over HBONE with these identities.
    public func mutualTLS(client: String?, server: String?) -> Verdict {
        let arrived = inbound.filter { $0.event == .opened }
        let answered = calls.filter(\.ok).count
        let expected = "mTLS" + (client.map { " from \($0)" } ?? "") + (server.map { " to \($0)" } ?? "")
        guard answered > 0, arrived.count >= answered else {
            return Verdict(passed: false, expected: expected,
                           actual: "\(arrived.count) of \(answered) answered calls seen arriving at a ztunnel", evidence: events.map(describe))
        }
        let wrong = arrived.filter { event in
            event.srcIdentity == nil || event.dstHboneAddr == nil
                || (client != nil && event.srcIdentity != client) || (server != nil && event.dstIdentity != server)
        }
        let identities = Set(arrived.map { "\($0.srcIdentity ?? "no identity") → \($0.dstIdentity ?? "?")" }).sorted()
        return Verdict(passed: wrong.isEmpty, expected: expected, actual: identities.joined(separator: "; "),
                       evidence: arrived.map(describe))
    }

    /// Plaintext: no ztunnel saw these connections arrive with a peer identity.
    public func plaintext() -> Verdict {
        let identified = inbound.filter { $0.srcIdentity != nil }
        return Verdict(passed: identified.isEmpty, expected: "no mTLS identity on these connections",
                       actual: identified.isEmpty ? "none" : "identities \(Set(identified.compactMap(\.srcIdentity)).sorted().joined(separator: ", "))",
                       evidence: inbound.map(describe))
    }

    /// The authorization decisions for these calls, at the hop that made them (`ztunnel <node>`).
    public func policyDecision(allowed: Bool, policy: String?, reason: String?, at hop: String? = nil) -> Verdict {
        let decisions = inbound.filter { $0.isPolicyDecision && (hop == nil || $0.hop == hop) }
        let expected = (allowed ? "allowed" : "denied") + (policy.map { " by \($0)" } ?? "") + (reason.map { " (\($0))" } ?? "")
            + (hop.map { " at \($0)" } ?? "")
        let matching = decisions.filter { decision in
            decision.allowed == allowed && (policy == nil || decision.policy == policy)
                && (reason == nil || (decision.reason?.contains(reason!) ?? false))
        }
        let elsewhere = inbound.filter { $0.isPolicyDecision && !decisions.contains($0) }
        let actual = decisions.isEmpty
            ? (hop == nil || elsewhere.isEmpty ? "no decision logged for these calls"
                : "no decision at \(hop!); " + Set(elsewhere.map { "\($0.allowed == true ? "allowed" : "denied") by \($0.policy ?? "-") at \($0.hop)" }).sorted().joined(separator: "; "))
            : Set(decisions.map { "\($0.allowed == true ? "allowed" : "denied") by \($0.policy ?? "-"): \($0.reason ?? "")\(hop == nil ? "" : " at \($0.hop)")" })
                .sorted().joined(separator: "; ")
        return Verdict(passed: !decisions.isEmpty && matching.count == decisions.count, expected: expected, actual: actual,
                       evidence: decisions.map(describe))
    }

    /// Every answered call reached its server carrying this request header (e.g. a waypoint's `x-request-id`).
    public func requestHeader(_ name: String) -> Verdict {
        let answered = calls.compactMap(\.reply)
        let missing = answered.filter { reply in !(reply.headers ?? [:]).keys.contains { $0.lowercased() == name.lowercased() } }
        return Verdict(passed: !answered.isEmpty && missing.isEmpty, expected: "every request reaches its server with \(name)",
                       actual: answered.isEmpty ? "no call was answered" : missing.isEmpty ? "all carried it" : "\(missing.count) of \(answered.count) without it",
                       evidence: answered.map { "\($0.pod) saw \(name): \(($0.headers ?? [:]).first { $0.key.lowercased() == name.lowercased() }?.value ?? "(none)")" })
    }
}
