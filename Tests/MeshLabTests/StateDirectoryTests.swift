import Foundation
import MeshLabRuntime
import XCTest

/// Which labs are up is read from the state root: a directory per lab, nothing else.
final class StateDirectoryTests: XCTestCase {
    func testOnlyDirectoriesAreLabs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-state-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        for lab in ["waypoint-l7", "ambient-basic", ".hidden"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(lab), withIntermediateDirectories: true)
        }
        try Data("4 MiB a user copied here".utf8).write(to: root.appendingPathComponent("big.bin"))
        XCTAssertEqual(StateDirectory.all(under: root).map(\.lab), ["ambient-basic", "waypoint-l7"])
    }
}
