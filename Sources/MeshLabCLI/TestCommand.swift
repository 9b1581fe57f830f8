import ArgumentParser
import Assertions
import Foundation
import Labs
import MeshLab
import MeshLabRuntime

struct TestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Bring each lab up, run its checks, bring it down. Exit status 0 only when every check passes.")

    @Argument(help: "Labs (built-in names or lab files); default: every built-in lab with checks.")
    var labs: [String] = []

    @Option(help: "Also write the results as JUnit XML to this file.")
    var junit: String?

    @Flag(help: "Print the results as JSON instead of the summary table.")
    var json = false

    @Flag(help: "Leave a lab whose checks failed running, for inspection.")
    var keep = false

    @Flag(help: "Write an evidence bundle even when every check passes (one is always written on failure).")
    var bundle = false

    @Option(help: "Where evidence bundles go.")
    var bundleDir = "."

    @Flag(help: "Never write evidence bundles.")
    var noBundle = false

    func run() throws {
        var reports: [LabReport] = []
        try reportingErrors {
            try FileManager.default.createDirectory(atPath: bundleDir, withIntermediateDirectories: true)
            let loader = LabLoader(progress: say)
            let specs = try labs.isEmpty ? LabCatalog.all.filter { !$0.checks.isEmpty } : labs.map { try loader.load($0).spec }
            for spec in specs {
                guard !spec.checks.isEmpty else {
                    say("lab \(spec.name) has no checks; skipped")
                    continue
                }
                let bundles: LabTesting.Bundles = noBundle ? .never : bundle ? .always(folder: bundleDir) : .onFailure(folder: bundleDir)
                reports.append(try LabTesting.run(spec, keepOnFailure: keep, bundles: bundles, progress: LiveProgress().show))
            }
        }
        if json { print(try Reporters.json(reports)) } else { print(Reporters.summary(reports)) }
        if let junit { try Reporters.junit(reports).write(toFile: junit, atomically: true, encoding: .utf8) }
        if !reports.allSatisfy(\.passed) { throw ExitCode(1) }
    }
}
