import ArgumentParser

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push a changed lab's policies and services to its running ztunnels, restarting nothing.",
        discussion: "Open connections that the new policies deny are closed, as ztunnel does.")

    @Argument(help: "The lab file (or built-in name) with the changes.")
    var lab: String?

    func run() throws {
        try reportingErrors {
            let (spec, _) = try LabLoader(progress: say).load(lab)
            let version = try Orchestrator().apply(spec)
            say("lab \(spec.name): mesh config version \(version) acknowledged by every ztunnel")
        }
    }
}
