import ArgumentParser
import MeshLabRuntime

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
