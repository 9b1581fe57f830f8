import Assertions
import Foundation
import MeshLab
import Netns

/// Everything needed to understand or file a failed run, in one .tar.gz: the lab file and LabSpec
/// (what `meshlab replay` brings up again), topology, plan and state, the verdicts, every process
/// log, the captures, and per netns the iptables rules with counters, the conntrack table and the
/// links, addresses, routes and rules — read from the running lab before it goes down.
enum EvidenceBundle {
    static let specFile = "spec.json"
    static let reportFile = "report.json"

    /// Writes `<folder>/meshlab-<lab>-<time>.tar.gz` and returns its path.
    static func write(lab: String, report: LabReport, to folder: String) throws -> String {
        let directory = StateDirectory(lab: lab)
        let staging = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-bundle-\(lab)-\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        defer { try? FileManager.default.removeItem(at: staging) }
        let manager = FileManager.default
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)

        for name in ["spec.json", "topology.json", "plan.json", "state.json"] where manager.fileExists(atPath: directory.file(name).path) {
            try manager.copyItem(at: directory.file(name), to: staging.appendingPathComponent(name))
        }
        for folder in ["logs", "captures"] where manager.fileExists(atPath: directory.file(folder).path) {
            try manager.copyItem(at: directory.file(folder), to: staging.appendingPathComponent(folder))
        }
        let state = try directory.state()
        if state.source.hasSuffix(".swift"), manager.fileExists(atPath: state.source) {
            try manager.copyItem(atPath: state.source, toPath: staging.appendingPathComponent("lab.swift").path)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(report).write(to: staging.appendingPathComponent(reportFile))

        for (folder, dump) in [("rules", rules), ("conntrack", conntrack), ("net", network)] {
            let target = staging.appendingPathComponent(folder)
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            let texts = try DedicatedThread.parallel(state.netns) { netns in (try? dump(netns)) ?? "(could not read \(netns))\n" }
            for (netns, text) in zip(state.netns, texts) {
                try Data(text.utf8).write(to: target.appendingPathComponent("\(netns).txt"))
            }
        }
        try Data(readme(lab: lab, report: report).utf8).write(to: staging.appendingPathComponent("README.txt"))

        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withYear, .withMonth, .withDay, .withTime])
        let path = URL(fileURLWithPath: folder).appendingPathComponent("meshlab-\(lab)-\(stamp).tar.gz").path
        let tar = try NetnsCommand.runHere("tar", ["-czf", path, "-C", staging.path, "."])
        guard tar.status == 0 else { throw CLIError("could not write the evidence bundle \(path): \(tar.output)", hint: "check that the folder is writable") }
        return path
    }

    /// Unpacks a bundle into a new temporary folder and returns it.
    static func unpack(_ bundle: String) throws -> URL {
        guard FileManager.default.fileExists(atPath: bundle) else {
            throw CLIError("no evidence bundle at \(bundle)", hint: "`meshlab test` writes one when a check fails (or with --bundle)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-replay-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tar = try NetnsCommand.runHere("tar", ["-xzf", bundle, "-C", folder.path])
        guard tar.status == 0, FileManager.default.fileExists(atPath: folder.appendingPathComponent(specFile).path) else {
            try? FileManager.default.removeItem(at: folder)
            throw CLIError("\(bundle) is not a MeshLab evidence bundle: \(tar.output.isEmpty ? "it has no \(specFile)" : tar.output)",
                           hint: "pass the .tar.gz that `meshlab test` wrote")
        }
        return folder
    }

    private static func rules(_ netns: String) throws -> String {
        try NetnsCommand.run("iptables-save", ["-c"], in: netns).output
    }

    private static func conntrack(_ netns: String) throws -> String {
        try Conntrack.dump(in: netns).map { "\($0)\n" }.joined()
    }

    private static func network(_ netns: String) throws -> String {
        try NetnsCommand.run("sh", ["-c", "ip -d addr; echo; ip route show table all; echo; ip rule"], in: netns).output
    }

    private static func readme(lab: String, report: LabReport) -> String {
        let failed = report.checks.filter { !$0.passed }
        return """
            MeshLab evidence bundle for lab \(lab), written \(Date()).
            \(failed.count) of \(report.checks.count) checks failed\(failed.isEmpty ? "" : ":\n" + failed.map { "  - \($0.name) (\($0.at))" }.joined(separator: "\n"))

            Bring the same lab up again and rerun its checks:   meshlab replay <this file>
            spec.json     the lab as it ran (LabSpec); lab.swift is the lab file when there was one
            report.json   every verdict: expected, actual, evidence
            logs/         every process's log (ztunnel access logs are JSON lines)
            captures/     packet captures (pcap, open with Wireshark or tshark)
            rules/        iptables-save -c per network namespace
            conntrack/    the conntrack table per network namespace
            net/          addresses, routes and rules per network namespace

            """
    }
}
