import ArgumentParser
import MeshLabRuntime

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a running lab: add or remove pods, and push policies and services to its ztunnels.",
        discussion: "Nothing restarts. Open connections that the new policies deny are closed, as ztunnel does.")

    @Argument(help: "The lab file (or built-in name) with the changes.")
    var lab: String?

    func run() throws {
        try reportingErrors {
            let (spec, _) = try LabLoader(progress: say).load(lab)
            let (version, added, removed) = try Orchestrator().apply(spec)
            if !added.isEmpty { say("added: \(added.joined(separator: ", "))") }
            if !removed.isEmpty { say("removed: \(removed.joined(separator: ", "))") }
            say("lab \(spec.name): mesh config version \(version) acknowledged by every ztunnel")
        }
    }
}
