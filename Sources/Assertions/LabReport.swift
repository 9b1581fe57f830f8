/// One lab's checks, for the summary, JSON and JUnit.
public struct LabReport: Codable, Sendable {
    public var lab: String
    public var checks: [CheckResult]
    /// The evidence bundle written for this run, if any.
    public var bundle: String?
    public var passed: Bool { checks.allSatisfy(\.passed) }

    package init(lab: String, checks: [CheckResult], bundle: String? = nil) {
        self.lab = lab
        self.checks = checks
        self.bundle = bundle
    }

    /// Each failed check with what was expected and seen, for a test failure message.
    public var failures: String {
        checks.filter { !$0.passed }.map(Reporters.text).joined(separator: "\n")
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

    package init(name: String, at: String, passed: Bool, verdicts: [Verdict], seconds: Double, problem: String? = nil) {
        self.name = name
        self.at = at
        self.passed = passed
        self.verdicts = verdicts
        self.seconds = seconds
        self.problem = problem
    }
}
