/// Connection ids: the process's name and a counter (`node-a-17`). After a restart the ztunnel's
/// generation goes in too (`node-a-2.17`), so a draining predecessor and its successor never log
/// the same id. Used on the process's event loop only.
final class ConnectionIDs: @unchecked Sendable {  // used on its process's one event loop
    let name: String
    private let generation: Int
    private var counter = 0

    init(name: String, generation: Int = 1) {
        self.name = name
        self.generation = generation
    }

    func next() -> String {
        counter += 1
        return generation == 1 ? "\(name)-\(counter)" : "\(name)-\(generation).\(counter)"
    }
}
