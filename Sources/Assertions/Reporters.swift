import Foundation

package enum Reporters {
    package static func text(_ result: CheckResult) -> String {
        var lines = ["\(result.passed ? "PASS" : "FAIL")  \(result.name)  (\(result.at))"]
        if let problem = result.problem { lines.append("      \(problem)") }
        for verdict in result.verdicts where !verdict.passed {
            lines.append("      expected: \(verdict.expected)")
            lines.append("      actual:   \(verdict.actual)")
            lines += verdict.evidence.prefix(6).map { "      evidence: \($0)" }
        }
        return lines.joined(separator: "\n")
    }

    package static func summary(_ reports: [LabReport]) -> String {
        let rows = reports.flatMap { report in report.checks.map { [report.lab, $0.passed ? "pass" : "FAIL", $0.name, String(format: "%.2f s", $0.seconds)] } }
        let all = reports.flatMap(\.checks)
        return Table(["LAB", "RESULT", "CHECK", "TIME"], rows).render()
            + "\n\(all.filter(\.passed).count) passed, \(all.filter { !$0.passed }.count) failed"
    }

    package static func json(_ reports: [LabReport]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(reports), as: UTF8.self)
    }

    /// JUnit XML: one testsuite per lab, one testcase per check, failures with expected and actual.
    package static func junit(_ reports: [LabReport]) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var xml = ["<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "<testsuites name=\"meshlab\">"]
        for report in reports {
            let failures = report.checks.filter { !$0.passed }.count
            let time = report.checks.reduce(0) { $0 + $1.seconds }
            xml.append("  <testsuite name=\"\(escape(report.lab))\" tests=\"\(report.checks.count)\" failures=\"\(failures)\" time=\"\(String(format: "%.3f", time))\">")
            for check in report.checks {
                xml.append("    <testcase classname=\"\(escape(report.lab))\" name=\"\(escape(check.name))\" file=\"\(escape(check.at))\" time=\"\(String(format: "%.3f", check.seconds))\">")
                if !check.passed {
                    let failed = check.verdicts.filter { !$0.passed }
                    let message = check.problem ?? failed.map { "expected \($0.expected), got \($0.actual)" }.joined(separator: "; ")
                    let body = failed.flatMap { [$0.description] + $0.evidence }.joined(separator: "\n")
                    xml.append("      <failure message=\"\(escape(message))\">\(escape(body))</failure>")
                }
                xml.append("    </testcase>")
            }
            xml.append("  </testsuite>")
        }
        xml.append("</testsuites>")
        return xml.joined(separator: "\n")
    }
}
