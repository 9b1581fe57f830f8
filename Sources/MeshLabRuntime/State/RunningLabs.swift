import MeshLab

package enum RunningLabs {
    /// The one lab that is up, for commands that may omit the lab name.
    package static func onlyOne() throws -> String {
        let labs = StateDirectory.all().map(\.lab)
        guard labs.count == 1 else {
            throw MeshLabError(labs.isEmpty ? "no lab is up" : "several labs are up: \(labs.joined(separator: ", "))",
                           hint: labs.isEmpty ? "`meshlab up` brings the default lab up" : "name the lab")
        }
        return labs[0]
    }
}
