import Dataplane
import Foundation
import MeshLab
import Netns
import XCTest

/// Crash safety: `meshlab up` SIGKILLed at any moment, kernel preflight included, then `meshlab
/// clean`; or every process of a running lab SIGKILLed, then `meshlab down` and `clean`. Either way
/// nothing is left: no netns of the lab or scratch netns, no links, no processes, no eBPF programs
/// or pins, no state, the root netns as it was; and the lab comes up again.
final class CrashSafetyEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
    }

    private static let modes: [RedirectionMode] = [.inpod, .inpodTproxy, .iptables, .ebpf]

    func testUpKilledAtAnyMomentThenCleanLeavesNothing() throws {
        for mode in Self.modes {
            let (lab, file) = try Self.labFile(mode)
            let root = try Self.rootSnapshot(lab)
            let started = Date()
            let whole = try Harness.meshlab("up", file)
            let duration = Date().timeIntervalSince(started)
            try Harness.meshlab("down", lab)
            try assertNothingLeft(of: lab, root: root, "\(mode) after a whole up and down")
            let progress = whole.stderr.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("lab \(lab) is up") }

            // Evenly spaced over one whole `up`, more densely in its first 0.3 s (the kernel probe),
            // and the moment each progress line appears.
            let delays = (0..<24).map { duration * 0.95 * Double($0) / 23 } + [0.05, 0.1, 0.15, 0.2, 0.3]
            let moments = delays.map(KillMoment.after) + progress.indices.map(KillMoment.atProgressLine)
            var interrupted = 0
            for moment in moments {
                let killed = try upKilled(file, lab: lab, at: moment, progress: progress)
                if killed {
                    interrupted += 1
                    try Harness.meshlab("clean")
                }
                try assertNothingLeft(of: lab, root: root, "\(mode), up killed \(moment)")
            }
            print("\(mode): one up took \(String(format: "%.2f", duration)) s; \(interrupted) of \(moments.count) kills interrupted it")
            XCTAssertGreaterThanOrEqual(interrupted, 20, "\(mode): too few kills landed while `up` ran")

            try Harness.meshlab("up", file)
            try Harness.meshlab("down", lab)
            try assertNothingLeft(of: lab, root: root, "\(mode), up again after the kills")
        }
    }

    func testLabProcessesKilledThenDownAndCleanLeaveNothing() throws {
        for mode in Self.modes {
            let (lab, file) = try Self.labFile(mode)
            let root = try Self.rootSnapshot(lab)
            try Harness.meshlab("up", file)
            let pids = Self.labProcesses(lab)
            let names = Set(pids.compactMap { Self.commandLine($0).dropFirst().first })
            XCTAssertTrue(names.isSuperset(of: ["ztunnel", "echo", "waypoint"] + (mode == .iptables || mode == .ebpf ? ["redirector"] : [])),
                          "\(mode): the lab runs its processes: \(names)")
            for pid in pids { kill(pid, SIGKILL) }
            try Self.waitUntil("\(mode): the killed processes are gone") { Self.labProcesses(lab).isEmpty }
            if mode == .ebpf {
                // Their redirectors gone, the programs stay attached to the lab's devices: what `down` must free.
                XCTAssertFalse(BPFRedirector.abandonedPrograms().isEmpty, "the killed redirectors' programs are still attached")
            }
            try Harness.meshlab("down", lab)
            try Harness.meshlab("clean")
            try assertNothingLeft(of: lab, root: root, "\(mode), processes killed, then down and clean")
        }
    }

    // MARK: - Killing `up`

    private enum KillMoment: CustomStringConvertible {
        case after(TimeInterval)
        case atProgressLine(Int)

        var description: String {
            switch self {
            case .after(let delay): String(format: "after %.3f s", delay)
            case .atProgressLine(let index): "at progress line \(index + 1)"
            }
        }
    }

    /// Starts `meshlab up FILE` and SIGKILLs it at `moment`. True when that interrupted it; when the
    /// lab was up by then (`up` exited, or was killed after recording the lab as running, which
    /// `clean` rightly keeps), the lab is brought down and false is returned.
    private func upKilled(_ file: String, lab: String, at moment: KillMoment, progress: [String]) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binary)
        process.arguments = ["up", file]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        let reader = ProgressReader(errors.fileHandleForReading)
        try process.run()
        switch moment {
        case .after(let delay):
            usleep(useconds_t(delay * 1_000_000))
        case .atProgressLine(let index):
            reader.waitForLine(progress[index], timeout: 30)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let said = reader.finish()
        if process.terminationReason == .uncaughtSignal && Self.phase(of: lab) != "running" { return true }
        if process.terminationReason == .exit {
            XCTAssertEqual(process.terminationStatus, 0, "up killed \(moment) had already failed on its own:\n\(said)")
        }
        if Self.phase(of: lab) != nil { try Harness.meshlab("down", lab) }
        return false
    }

    /// The phase a lab's state file records (starting, running, stopping), nil without one.
    private static func phase(of lab: String) -> String? {
        guard let data = FileManager.default.contents(atPath: "\(Naming.stateRoot)/\(lab)/state.json"),
              let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return state["phase"] as? String
    }

    /// Collects what `up` writes to stderr, and tells when a given line has appeared.
    private final class ProgressReader: @unchecked Sendable {
        private let condition = NSCondition()
        private var text = ""
        private var ended = false

        init(_ handle: FileHandle) {
            Thread {
                while case let data = handle.availableData, !data.isEmpty {
                    self.condition.withLock { self.text += String(decoding: data, as: UTF8.self) }
                    self.condition.broadcast()
                }
                self.condition.withLock { self.ended = true }
                self.condition.broadcast()
            }.start()
        }

        func waitForLine(_ line: String, timeout: TimeInterval) {
            let deadline = Date().addingTimeInterval(timeout)
            condition.withLock {
                while !text.split(separator: "\n").contains(where: { $0 == line }) && !ended && condition.wait(until: deadline) {}
            }
        }

        func finish() -> String {
            condition.withLock {
                while !ended { condition.wait() }
                return text
            }
        }
    }

    // MARK: - What must be left

    /// Everything a lab or MeshLab's scratch work can leave, polled for a while: the kernel frees a
    /// deleted netns's links and eBPF programs in the background.
    private func assertNothingLeft(of lab: String, root: String, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        var left: [String] = []
        let deadline = Date().addingTimeInterval(15)
        repeat {
            left = try Self.leftovers(of: lab)
            if left.isEmpty { break }
            usleep(100_000)
        } while Date() < deadline
        XCTAssertEqual(left, [], "\(context): left behind", file: file, line: line)
        XCTAssertEqual(try Self.rootSnapshot(lab), root, "\(context): the root netns changed", file: file, line: line)
        // What one kill leaves would fail every later one: stop at the first.
        if !left.isEmpty { throw LeftBehind(description: "\(context): \(left.count) things left behind") }
    }

    private struct LeftBehind: Error, CustomStringConvertible {
        var description: String
    }

    private static func leftovers(of lab: String) throws -> [String] {
        let marker = Naming.marker(lab: lab)
        let marked = try Residue.scan { $0 == marker ? $0 : nil }.filter { $0.lab != nil }.map { "netns \($0.name) marked \(marker)" }
        let scratch = NetworkNamespace.list().filter { $0.hasPrefix(Residue.scratchNetnsPrefix) }.map { "scratch netns \($0)" }
        let staging = ((try? FileManager.default.contentsOfDirectory(atPath: Naming.stateRoot)) ?? [])
            .filter { $0.hasPrefix(".") && $0.hasSuffix("-\(lab)") }.map { "staging folder \(Naming.stateRoot)/\($0)" }
        let processes = labProcesses(lab).map { "process \($0): \(commandLine($0).joined(separator: " "))" }
        let netnsless = meshlabProcessesInUnnamedNetns().map { "process \($0) in a deleted netns: \(commandLine($0).joined(separator: " "))" }
        let programs = BPFRedirector.abandonedPrograms().map { "eBPF program \($0)" }
        let objects = BPFRedirector.abandonedObjectFiles().map { "half-compiled eBPF object \($0)" }
        return try Harness.residue(of: lab) + marked + scratch + staging + processes + netnsless + programs + objects + pins()
    }

    /// Pins under /sys/fs/bpf named like MeshLab's programs or maps (MeshLab pins nothing).
    private static func pins() -> [String] {
        let names = BPFRedirector.programNames.union(["app_info", "ztunnel_info", "host_ip_info", "counters", "meshlab"])
        let found = FileManager.default.enumerator(atPath: "/sys/fs/bpf")?.allObjects.compactMap { $0 as? String } ?? []
        return found.filter { path in names.contains { path.contains($0) } }.map { "pin /sys/fs/bpf/\($0)" }
    }

    /// Processes with `--lab LAB` in their command line, whatever they are.
    private static func labProcesses(_ lab: String) -> [pid_t] {
        allProcesses().filter { pid in
            let arguments = commandLine(pid)
            return zip(arguments, arguments.dropFirst()).contains { $0 == "--lab" && $1 == lab }
        }
    }

    /// `meshlab` processes whose netns is neither the root netns nor a named one: a lab process that
    /// outlived its netns's name (it keeps the netns, and its links, alive).
    private static func meshlabProcessesInUnnamedNetns() -> [pid_t] {
        let known = Set(NetworkNamespace.list().compactMap(NetworkNamespace.inode)).union([netnsInode("self")].compactMap { $0 })
        return allProcesses().filter { pid in
            guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                  URL(fileURLWithPath: executable.replacingOccurrences(of: " (deleted)", with: "")).lastPathComponent == "meshlab",
                  let inode = netnsInode(String(pid)) else { return false }
            return !known.contains(inode)
        }
    }

    private static func netnsInode(_ process: String) -> UInt64? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/ns/net") else { return nil }
        return UInt64(link.dropFirst("net:[".count).dropLast())
    }

    private static func allProcesses() -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.filter { $0 != getpid() }
    }

    private static func commandLine(_ pid: pid_t) -> [String] {
        let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The root netns as `Harness.rootNetworkSnapshot` shows it, its netns list narrowed to this lab's and
    /// scratch netns: other labs may come and go meanwhile (other tests, other people).
    private static func rootSnapshot(_ lab: String) throws -> String {
        var sections = try Harness.rootNetworkSnapshot().components(separatedBy: "\n---\n")
        let netnsList = 4  // link, addr, route, rule, `ip netns list`, iptables-save
        sections[netnsList] = sections[netnsList].split(separator: "\n")
            .filter { $0.hasPrefix("\(lab)-") || $0.hasPrefix(Residue.scratchNetnsPrefix) }.joined(separator: "\n")
        return sections.joined(separator: "\n---\n")
    }

    private struct TimedOut: Error, CustomStringConvertible {
        var description: String
    }

    private static func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw TimedOut(description: "timed out after \(Int(timeout)) s waiting until \(what)") }
            usleep(50_000)
        }
    }

    // MARK: - The lab

    /// Two nodes, an ambient client and echo server on different nodes, a waypoint: every kind of
    /// process a lab runs (ztunnels, echo, waypoint, and the redirectors of node-level modes), few of each.
    private static func labFile(_ mode: RedirectionMode) throws -> (lab: String, path: String) {
        let name = "crash-\(mode.rawValue)"
        let spec = Lab(name, settings: LabSettings(redirect: mode)) {
            Node("node-a")
            Node("node-b")
            Namespace("mesh", mode: .ambient, waypoint: "waypoint") {
                Waypoint("waypoint", node: "node-b")
                Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
                Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
            }
        }
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        return (name, try Harness.temporaryFile("\(name).json", json))
    }
}
