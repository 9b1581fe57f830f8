import Glibc

/// What MeshLab left on the machine, found by markers rather than by guesses.
public enum Residue {
    /// A named netns and the lab whose marker its `lo` carries (nil: not MeshLab's).
    public struct MarkedNetns: Sendable, Hashable {
        public var name: String
        public var lab: String?
    }

    /// Reads the marker of every named netns. `labOf` turns an alias into a lab name.
    public static func scan(labOf: @escaping @Sendable (String) -> String?) throws -> [MarkedNetns] {
        try DedicatedThread.parallel(NetworkNamespace.list()) { name in
            let alias = try? NetworkNamespace.within(name) {
                try RouteSocket().links().first { $0.name == "lo" }?.alias
            }
            return MarkedNetns(name: name, lab: alias.flatMap { $0 }.flatMap(labOf))
        }
    }
}
