import Assertions
import Foundation
import MeshLab

/// Labs as regression tests: bring a lab up, run its checks, bring it down. What `meshlab test`
/// does per lab, callable from XCTest or Swift Testing (`try LabTesting.run(myLab).passed`).
public enum LabTesting {
    /// When to write an evidence bundle, and where.
    public enum Bundles: Sendable {
        case never
        case onFailure(folder: String)
        case always(folder: String)
    }

    /// What a run reports as it goes.
    public enum Progress: Sendable {
        case note(String)
        case running(check: String, number: Int, of: Int)
        case finished(CheckResult)
    }

    public static func run(_ spec: LabSpec, keepOnFailure: Bool = false, bundles: Bundles = .never,
                           progress: (Progress) -> Void = { _ in }) throws -> LabReport {
        progress(.note("lab \(spec.name): up"))
        let orchestrator = Orchestrator()
        let (topology, _) = try orchestrator.up(spec, source: spec.at.file)
        var report = LabReport(lab: spec.name, checks: [])
        do {
            let runner = CheckRunner(directory: StateDirectory(lab: spec.name), topology: topology)
            for (index, check) in spec.checks.enumerated() {
                progress(.running(check: check.name, number: index + 1, of: spec.checks.count))
                let result = try runner.run(check)
                progress(.finished(result))
                report.checks.append(result)
            }
            switch bundles {
            case .always(let folder), .onFailure(let folder) where !report.passed:
                report.bundle = try EvidenceBundle.write(lab: spec.name, report: report, to: folder)
                progress(.note("evidence bundle: \(report.bundle!) (`meshlab replay` it to reproduce)"))
            default: break
            }
        } catch {
            try? orchestrator.down(spec.name)
            throw error
        }
        if report.passed || !keepOnFailure {
            try orchestrator.down(spec.name)
        } else {
            progress(.note("lab \(spec.name) left running for inspection; `meshlab down \(spec.name)` when done"))
        }
        return report
    }
}
