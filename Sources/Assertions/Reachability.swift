import Dataplane

/// The verdict of a check: whether it held, and what was expected and seen.
public struct Verdict: Sendable, CustomStringConvertible {
    public var passed: Bool
    public var expected: String
    public var actual: String

    public var description: String { passed ? "ok: \(expected)" : "FAILED: expected \(expected), got \(actual)" }
}

/// Reachability judged from client call results: every call succeeded and was answered by one of `pods`.
public func reached(_ results: [CallResult], pods: Set<String>) -> Verdict {
    let answered = results.map { $0.reply?.pod ?? "(\($0.outcome.rawValue): \($0.error ?? "no reply"))" }
    let passed = !results.isEmpty && results.allSatisfy { $0.ok && pods.contains($0.reply?.pod ?? "") }
    return Verdict(passed: passed, expected: "\(results.count) calls answered by \(pods.sorted().joined(separator: " or "))",
                   actual: answered.joined(separator: ", "))
}
