import Foundation
import Dataplane
import Glibc
import MeshLab
import Netns

/// /run/meshlab/<lab>/: spec, topology, plan, state and logs of one lab.
package struct StateDirectory {
    package static let root = URL(fileURLWithPath: Naming.stateRoot)

    package let lab: String

    package init(lab: String) { self.lab = lab }

    package var url: URL { Self.root.appendingPathComponent(lab) }
    package var logs: URL { url.appendingPathComponent("logs") }
    package func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    package func log(for process: String) -> URL { logs.appendingPathComponent("\(process).log") }

    package var exists: Bool { FileManager.default.fileExists(atPath: file("state.json").path) }

    /// The labs with a directory under `root` (a file a user left there is not a lab).
    package static func all(under root: URL = root) -> [StateDirectory] {
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
    package func create(with state: LabState) throws {
        let staging = Self.root.appendingPathComponent("\(Self.stagingPrefix)\(getpid())-\(lab)")
        try FileManager.default.createDirectory(at: staging.appendingPathComponent("logs"), withIntermediateDirectories: true)
        try Self.encode(state, to: staging.appendingPathComponent("state.json"))
        guard rename(staging.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: staging)
            if code == EEXIST || code == ENOTEMPTY {
                throw MeshLabError("lab '\(lab)' is already up", hint: "`meshlab down \(lab)` first, or `meshlab clean` if its `up` crashed")
            }
            throw MeshLabError("cannot create \(url.path): \(String(cString: strerror(code)))", hint: "check that \(Self.root.path) is writable")
        }
    }

    /// Staging folders are `.starting-<pid>-<lab>`: hidden, so `all()` never takes one for a lab.
    package static let stagingPrefix = ".starting-"

    /// Staging folders whose `up` died before renaming them into place.
    package static func abandonedStaging(under root: URL = root) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return Residue.abandoned(names) { name in
            name.hasPrefix(stagingPrefix) ? name.dropFirst(stagingPrefix.count).split(separator: "-").first.flatMap { pid_t($0) } : nil
        }.map { root.appendingPathComponent($0) }
    }

    package func write<T: Encodable>(_ value: T, to name: String) throws { try Self.encode(value, to: file(name)) }

    private static func encode<T: Encodable>(_ value: T, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(value).write(to: url, options: .atomic)
    }

    package func read<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(contentsOf: file(name)))
    }

    package func state() throws -> LabState { try read(LabState.self, from: "state.json") }
    package func save(_ state: LabState) throws { try write(state, to: "state.json") }
    package func topology() throws -> Topology { try read(Topology.self, from: "topology.json") }

    package func remove() throws {
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }
}
