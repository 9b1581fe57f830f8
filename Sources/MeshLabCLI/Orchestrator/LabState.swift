import Foundation
import Dataplane
import MeshLab

/// What a lab's state directory (/run/meshlab/<lab>/) records, written before the first kernel
/// call so that a crashed `up` can always be cleaned up.
struct LabState: Codable {
    enum Phase: String, Codable {
        /// `up` is creating it (or crashed while doing so: see `upPID`).
        case starting
        case running
        case stopping
    }

    var lab: String
    var phase: Phase
    var upPID: Int32
    var startedAt: Date
    /// Every netns the plan creates, known before any exists.
    var netns: [String]
    var processes: [ProcessRecord] = []
    /// The mesh config version last pushed to the ztunnels (1 at `up`, +1 per `apply`).
    var configVersion: Int?
    /// Per node, the generation of its running ztunnel (absent: 1, the one `up` started).
    var ztunnelGenerations: [String: Int]?
    /// Where the lab came from: a built-in name or a lab file path.
    var source: String

    struct ProcessRecord: Codable {
        var name: String
        var netns: String
        var pid: Int32
    }
}

/// /run/meshlab/<lab>/: spec, topology, plan, state and logs of one lab.
struct StateDirectory {
    static let root = URL(fileURLWithPath: LabPaths.root)

    let lab: String
    var url: URL { Self.root.appendingPathComponent(lab) }
    var logs: URL { url.appendingPathComponent("logs") }
    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func log(for process: String) -> URL { logs.appendingPathComponent("\(process).log") }

    var exists: Bool { FileManager.default.fileExists(atPath: file("state.json").path) }

    /// The labs with a directory under `root` (a file a user left there is not a lab).
    static func all(under root: URL = root) -> [StateDirectory] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: root.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted().map { StateDirectory(lab: $0) }
    }

    func create() throws {
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    }

    func write<T: Encodable>(_ value: T, to name: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(value).write(to: file(name), options: .atomic)
    }

    func read<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(contentsOf: file(name)))
    }

    func state() throws -> LabState { try read(LabState.self, from: "state.json") }
    func save(_ state: LabState) throws { try write(state, to: "state.json") }
    func topology() throws -> Topology { try read(Topology.self, from: "topology.json") }

    func remove() throws {
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }
}
