import CSyscalls
import Foundation
import Glibc

/// Long-lived processes started inside a netns (the lab's apps and proxies).
public enum NetnsProcess {
    /// Starts `executable` inside the named netns as its own session, detached from the caller,
    /// output appended to `logPath`, and waits until it reports ready (writes a line to fd 3)
    /// or exits. Returns its pid.
    public static func start(
        executable: String, arguments: [String], netns: String, logPath: String, readyTimeout: Double = 10
    ) throws -> pid_t {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw NetnsError.errno("create a readiness pipe") }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        // Only the child's fd 3 (a dup2, which drops the flag) may outlive exec.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)
        defer { close(readEnd) }
        let pid: pid_t
        do {
            defer { close(writeEnd) }
            pid = try NetworkNamespace.within(netns) {
                try spawn(executable, arguments, logPath: logPath, readyFD: writeEnd)
            }
        }
        let name = arguments.prefix(3).joined(separator: " ")
        switch readLine(readEnd, timeout: readyTimeout) {
        case .some(let line) where line.hasPrefix("ready"):
            return pid
        case .some(let line):
            kill(pid, SIGKILL)
            throw NetnsError("`meshlab \(name)` in \(netns) failed to start: \(line)\n\(logTail(logPath))")
        case .none:
            kill(pid, SIGKILL)
            throw NetnsError("`meshlab \(name)` in \(netns) did not become ready in \(Int(readyTimeout)) s\n\(logTail(logPath))")
        }
    }

    /// Starts a process and returns at once; it inherits the calling thread's netns.
    static func spawn(_ executable: String, _ arguments: [String], logPath: String, readyFD: Int32) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_adddup2(&actions, readyFD, 3)
        // Without this, fds of whoever ran `meshlab up` (a test's pipes, a supervisor's sockets)
        // would stay open for as long as the lab runs.
        meshlab_spawn_closefrom(&actions, 4)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(meshlab_spawn_setsid_flag() | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [strdup("\(readyVariable)=3"), nil]
        defer { environment.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard rc == 0 else { throw NetnsError.errno("start \(executable)", rc) }
        return pid
    }

    /// One line from `fd`, or nil on timeout or EOF without data.
    private static func readLine(_ fd: Int32, timeout: Double) -> String? {
        var collected: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, remaining) > 0 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 512)
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { return collected.isEmpty ? nil : String(decoding: collected, as: UTF8.self) }
            collected += buffer[0..<count]
            if let newline = collected.firstIndex(of: UInt8(ascii: "\n")) {
                return String(decoding: collected[..<newline], as: UTF8.self)
            }
        }
    }

    public static func logTail(_ path: String, lines: Int = 10) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log at \(path))" }
        return text.split(separator: "\n").suffix(lines).map { "    | \($0)" }.joined(separator: "\n")
    }

    /// Set in a process `start` made: its fd 3 is the readiness pipe. (Run by hand, fd 3 is whatever
    /// the process opened first: NIO's epoll, say.)
    private static let readyVariable = "MESHLAB_READY_FD"

    /// Tells the process started by `start` that it is ready: call from the child.
    public static func signalReady() {
        guard getenv(readyVariable) != nil else { return }
        unsetenv(readyVariable)  // not inherited by what it starts
        let line = Array("ready\n".utf8)
        _ = Glibc.write(3, line, line.count)
        close(3)
    }

    /// Pids of every process whose network namespace has the given nsfs inode.
    public static func pids(inNetnsInodes inodes: Set<UInt64>) -> [pid_t] {
        guard !inodes.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != getpid() else { return nil }
            var buffer = [CChar](repeating: 0, count: 64)
            let count = readlink("/proc/\(pid)/ns/net", &buffer, buffer.count - 1)
            guard count > 0 else { return nil }
            let link = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)  // net:[4026532…]
            guard let inode = UInt64(link.dropFirst(5).dropLast()) else { return nil }
            return inodes.contains(inode) ? pid : nil
        }
    }

    /// SIGTERM, then SIGKILL for whoever is still there after `grace` seconds; waits until all are gone.
    public static func terminate(_ pids: [pid_t], grace: Double = 1) {
        guard !pids.isEmpty else { return }
        pids.forEach { kill($0, SIGTERM) }
        let deadline = Date().addingTimeInterval(grace)
        var alive = pids
        while !alive.isEmpty {
            alive = alive.filter { reapOrProbe($0) }
            if alive.isEmpty { break }
            if Date() > deadline { alive.forEach { kill($0, SIGKILL) } }
            usleep(2_000)
        }
    }

    /// True while `pid` exists (and is not a zombie we can reap).
    private static func reapOrProbe(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return false }
        guard kill(pid, 0) == 0 else { return false }
        // A zombie whose parent is not us still answers kill(0): treat it as gone.
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
            .split(separator: ")").last?.split(separator: " ").first
        return state != "Z"
    }
}
