import ArgumentParser
import MeshLabRuntime

struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what crashed labs left behind, and nothing else.",
        discussion: """
            Removes labs whose `up` died before finishing, and every network namespace and process of labs \
            whose state directory is gone (found by the marker MeshLab puts on each netns), and the scratch \
            leftovers of `meshlab` processes that are gone (staging folders, probe netns, half-compiled eBPF \
            objects, lab-file compile folders). Labs that are up, and labs whose `up` is still running, stay.
            """)

    func run() throws {
        try reportingErrors {
            let removed = try Orchestrator().clean()
            say(removed.isEmpty ? "nothing to clean" : "removed: \(removed.joined(separator: ", "))")
        }
    }
}
