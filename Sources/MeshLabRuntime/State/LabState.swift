import Foundation
import Dataplane
import Glibc
import MeshLab
import Netns

/// What a lab's state directory (/run/meshlab/<lab>/) records, written before the first kernel
/// call so that a crashed `up` can always be cleaned up.
package struct LabState: Codable {
    package enum Phase: String, Codable {
        /// `up` is creating it (or crashed while doing so: see `upPID`).
        case starting
        case running
        case stopping
    }

    package var lab: String
    package var phase: Phase
    package var upPID: Int32
    /// When `upPID` started (clock ticks since boot), so a reused pid is not taken for `up` (absent in older states).
    package var upStartTime: UInt64?
    package var startedAt: Date
    /// Every netns the plan creates, known before any exists.
    package var netns: [String]
    package var processes: [ProcessRecord] = []
    /// The mesh config version last pushed to the ztunnels (1 at `up`, +1 per `apply`).
    package var configVersion: Int?
    /// Per node, the generation of its running ztunnel (absent: 1, the one `up` started).
    package var ztunnelGenerations: [String: Int]?
    /// Where the lab came from: a built-in name or a lab file path.
    package var source: String

    package struct ProcessRecord: Codable {
        package var name: String
        package var netns: String
        package var pid: Int32
    }

    /// Whether the `up` that wrote this state still runs (this process never counts: it is `clean`).
    package var upIsAlive: Bool { upPID != getpid() && Residue.isAlive(upPID, startTime: upStartTime) }
}
