import Foundation
import Dataplane
import Glibc
import MeshLab
import Netns

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
    /// When `upPID` started (clock ticks since boot), so a reused pid is not taken for `up` (absent in older states).
    var upStartTime: UInt64?
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

    /// Whether the `up` that wrote this state still runs (this process never counts: it is `clean`).
    var upIsAlive: Bool { upPID != getpid() && Residue.isAlive(upPID, startTime: upStartTime) }
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

    /// Creates the lab's directory with `state` already in it: it is filled under a hidden staging
    /// name and renamed into place, so a lab directory never lacks its state (a crash leaves at most
    /// a staging folder, which `clean` removes once its process is gone), and of two `up`s of one
    /// lab only the first claims it.
    func create(with state: LabState) throws {
        let staging = Self.root.appendingPathComponent("\(Self.stagingPrefix)\(getpid())-\(lab)")
        try FileManager.default.createDirectory(at: staging.appendingPathComponent("logs"), withIntermediateDirectories: true)
        try Self.encode(state, to: staging.appendingPathComponent("state.json"))
        guard rename(staging.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: staging)
            if code == EEXIST || code == ENOTEMPTY {
                throw CLIError("lab '\(lab)' is already up", hint: "`meshlab down \(lab)` first, or `meshlab clean` if its `up` crashed")
            }
            throw CLIError("cannot create \(url.path): \(String(cString: strerror(code)))", hint: "check that \(Self.root.path) is writable")
        }
    }

    /// Staging folders are `.starting-<pid>-<lab>`: hidden, so `all()` never takes one for a lab.
    static let stagingPrefix = ".starting-"

    /// Staging folders whose `up` died before renaming them into place.
    static func abandonedStaging(under root: URL = root) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return Residue.abandoned(names) { name in
            name.hasPrefix(stagingPrefix) ? name.dropFirst(stagingPrefix.count).split(separator: "-").first.flatMap { pid_t($0) } : nil
        }.map { root.appendingPathComponent($0) }
    }

    func write<T: Encodable>(_ value: T, to name: String) throws { try Self.encode(value, to: file(name)) }

    private static func encode<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(value).write(to: url, options: .atomic)
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
