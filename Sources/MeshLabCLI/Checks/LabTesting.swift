import MeshLab

/// Labs as regression tests: bring a lab up, run its checks, bring it down. What `meshlab test`
/// does per lab, callable from XCTest or Swift Testing (`try LabTesting.run(myLab).passed`).
public enum LabTesting {
    public static func run(_ spec: LabSpec, keepOnFailure: Bool = false, progress: @escaping (String) -> Void = { _ in }) throws -> LabReport {
        progress("lab \(spec.name): up")
        let orchestrator = Orchestrator()
        let (topology, _) = try orchestrator.up(spec, source: spec.at.file)
        var report = LabReport(lab: spec.name, checks: [])
        do {
            let runner = CheckRunner(directory: StateDirectory(lab: spec.name), topology: topology)
            for check in spec.checks {
                let result = try runner.run(check)
                progress(Reporters.text(result))
                report.checks.append(result)
            }
        } catch {
            try? orchestrator.down(spec.name)
            throw error
        }
        if report.passed || !keepOnFailure {
            try orchestrator.down(spec.name)
        } else {
            progress("lab \(spec.name) left running for inspection; `meshlab down \(spec.name)` when done")
        }
        return report
    }
}
