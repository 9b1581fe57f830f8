import Foundation
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

    /// The name older MeshLab gave the kernel probe's scratch netns (`meshlab-probe-<pid>`), which a
    /// SIGKILL during the probe left behind; kept so `clean` still removes those on a machine.
    public static let scratchNetnsPrefix = "meshlab-probe-"

    /// Named scratch netns whose creating process is gone. One whose creator lives is never listed:
    /// that process may be probing in it right now.
    public static func abandonedScratchNetns() -> [String] {
        abandoned(NetworkNamespace.list()) { name in
            name.hasPrefix(scratchNetnsPrefix) ? pid_t(name.dropFirst(scratchNetnsPrefix.count)) : nil
        }
    }

    /// Of `names` (netns, files, folders named after the process making them), those whose process
    /// is gone. `creator` reads the pid out of a name; nil: not such a name.
    public static func abandoned(_ names: [String], creator: (String) -> pid_t?) -> [String] {
        names.filter { name in creator(name).map { !isAlive($0) } ?? false }
    }

    /// Whether `pid` is a live process and, when `startTime` is given, the same one (pids are reused).
    /// A zombie is dead: it only waits for its parent to read its status.
    public static func isAlive(_ pid: pid_t, startTime: UInt64? = nil) -> Bool {
        guard pid > 0, let stat = ProcessStat(pid), stat.state != "Z" else { return false }
        return startTime.map { $0 == stat.startTime } ?? true
    }

    /// When `pid` started, in clock ticks since boot: with the pid, it names one process for good.
    public static func startTime(of pid: pid_t) -> UInt64? { ProcessStat(pid)?.startTime }

    /// Whether a live process has `path` in its command line (a compiler still writing into a scratch
    /// folder whose creator died, say): such a path is left for a later `clean`.
    public static func isInUse(_ path: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard pid_t(entry) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            return cmdline.split(separator: 0).contains { String(decoding: $0, as: UTF8.self).contains(path) }
        }
    }
}

/// The fields of /proc/<pid>/stat that tell whether a process is the one we mean and still runs.
private struct ProcessStat {
    var state: Substring
    var startTime: UInt64

    init?(_ pid: pid_t) {
        // "pid (comm) state ppid …": comm may hold spaces and parentheses, so fields count from the last ')'.
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // Field 3 (state) is the first after ')'; field 22 (starttime) the 20th.
        guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
        state = fields[0]
        startTime = start
    }
}
