import ArgumentParser
import Assertions
import Foundation
import MeshLab
import MeshLabRuntime

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a lab up again from an evidence bundle, rerun its checks, and compare with the bundle's verdicts.",
        discussion: "Exit status 0 only when every check passes (so a fixed bug replays green).")

    @Argument(help: "The .tar.gz that `meshlab test` wrote.")
    var bundle: String

    @Flag(help: "Print the results as JSON instead of the summary table.")
    var json = false

    @Flag(help: "Leave the lab running when a check fails, for inspection.")
    var keep = false

    func run() throws {
        var report: LabReport?
        var recorded: LabReport?
        try reportingErrors {
            let folder = try EvidenceBundle.unpack(bundle)
            defer { try? FileManager.default.removeItem(at: folder) }
            let decoder = JSONDecoder()
            let spec = try decoder.decode(LabSpec.self, from: Data(contentsOf: folder.appendingPathComponent(EvidenceBundle.specFile)))
            recorded = try? decoder.decode(LabReport.self, from: Data(contentsOf: folder.appendingPathComponent(EvidenceBundle.reportFile)))
            say("replaying lab \(spec.name) from \(bundle)")
            report = try LabTesting.run(spec, keepOnFailure: keep, progress: LiveProgress().show)
        }
        guard let report else { return }
        if json { print(try Reporters.json([report])) } else { print(Reporters.summary([report])) }
        if let recorded { say(Self.compare(report, with: recorded)) }
        if !report.passed { throw ExitCode(1) }
    }

    /// Whether the same checks failed, with the same actual values, as when the bundle was written.
    static func compare(_ replayed: LabReport, with recorded: LabReport) -> String {
        let before = Dictionary(recorded.checks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let changed = replayed.checks.filter { check in
            guard let old = before[check.name] else { return true }
            return old.passed != check.passed
        }
        let failing = replayed.checks.filter { !$0.passed }.map(\.name)
        if changed.isEmpty {
            return failing.isEmpty ? "replayed: every check passes, as in the bundle"
                : "reproduced: the same \(failing.count) check(s) fail as in the bundle: \(failing.joined(separator: ", "))"
        }
        return "not reproduced: \(changed.map { "\($0.name) now \($0.passed ? "passes" : "fails")" }.joined(separator: ", "))"
    }
}
