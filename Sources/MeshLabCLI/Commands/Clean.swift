import ArgumentParser

struct Clean: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what crashed labs left behind, and nothing else.",
        discussion: """
            Removes labs whose `up` died before finishing, and every network namespace and process of labs \
            whose state directory is gone (found by the marker MeshLab puts on each netns). Labs that are up stay.
            """)

    func run() throws {
        try reportingErrors {
            let removed = try Orchestrator().clean()
            say(removed.isEmpty ? "nothing to clean" : "removed: \(removed.joined(separator: ", "))")
        }
    }
}
