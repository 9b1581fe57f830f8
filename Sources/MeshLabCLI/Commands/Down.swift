import ArgumentParser

struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a lab: processes, network namespaces, links, state.")

    @Argument(help: "The lab to remove (default: the only lab that is up).")
    var lab: String?

    func run() throws {
        try reportingErrors {
            let name = try lab ?? RunningLabs.onlyOne()
            try Orchestrator().down(name)
            say("lab \(name) is down")
        }
    }
}

enum RunningLabs {
    /// The one lab that is up, for commands that may omit the lab name.
    static func onlyOne() throws -> String {
        let labs = StateDirectory.all().map(\.lab)
        guard labs.count == 1 else {
            throw CLIError(labs.isEmpty ? "no lab is up" : "several labs are up: \(labs.joined(separator: ", "))",
                           hint: labs.isEmpty ? "`meshlab up` brings the default lab up" : "name the lab")
        }
        return labs[0]
    }
}
