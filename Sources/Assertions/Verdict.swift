/// The verdict on one expectation: whether it held, what was expected, what was seen, and the
/// evidence it was judged from.
public struct Verdict: Codable, Hashable, Sendable, CustomStringConvertible {
    public var passed: Bool
    public var expected: String
    public var actual: String
    public var evidence: [String]

    public init(passed: Bool, expected: String, actual: String, evidence: [String] = []) {
        self.passed = passed
        self.expected = expected
        self.actual = actual
        self.evidence = evidence
    }

    public var description: String { passed ? "ok: \(expected)" : "FAILED: expected \(expected), got \(actual)" }

    /// All of `verdicts` must hold.
    public static func all(_ verdicts: [Verdict]) -> Verdict {
        Verdict(passed: verdicts.allSatisfy(\.passed), expected: verdicts.map(\.expected).joined(separator: " and "),
                actual: verdicts.filter { !$0.passed }.map(\.actual).joined(separator: "; "), evidence: verdicts.flatMap(\.evidence))
    }

    /// `verdict` must not hold.
    public static func not(_ verdict: Verdict) -> Verdict {
        Verdict(passed: !verdict.passed, expected: "not: \(verdict.expected)", actual: verdict.actual, evidence: verdict.evidence)
    }

    /// One of `verdicts` must hold.
    public static func any(_ verdicts: [Verdict]) -> Verdict {
        Verdict(passed: verdicts.contains(where: \.passed), expected: verdicts.map(\.expected).joined(separator: " or "),
                actual: verdicts.map(\.actual).joined(separator: "; "), evidence: verdicts.flatMap(\.evidence))
    }
}
