import ArgumentParser
import Foundation
import MeshLab
import MeshLabRuntime

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Bring a lab up and return with it running.",
        discussion: "LAB is a built-in lab name, a file in labs/, or any lab file (compiled on the fly).")

    @Argument(help: "Built-in lab name or lab file path (default: the default lab).")
    var lab: String?

    @Flag(help: "Print the lab's status as JSON instead of tables.")
    var json = false

    func run() throws {
        try reportingErrors {
            let (spec, source) = try LabLoader(progress: say).load(lab)
            let started = Date()
            let (topology, _) = try Orchestrator(progress: say).up(spec, source: source)
            let seconds = Date().timeIntervalSince(started)
            if json {
                print(try StatusReport(topology: topology).json())
            } else {
                say(String(format: "lab %@ is up in %.2f s; state in %@", spec.name, seconds, StateDirectory(lab: spec.name).url.path))
                print(StatusReport(topology: topology).tables())
                print(StatusReport(topology: topology).suggestions())
            }
        }
    }
}
