import CSyscalls
import Foundation
import Glibc

/// Runs a tool (iptables-restore, tc, the bundled client) inside a netns: it inherits the netns of
/// the thread that spawns it, so the spawn happens from a thread that entered the netns.
public enum NetnsCommand {
    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    /// Runs to completion. `input` is written to the tool's stdin (an iptables-restore batch, say);
    /// stdout and stderr are collected.
    public static func run(_ tool: String, _ arguments: [String], in netns: String, input: String = "") throws -> Output {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) { try runHere(tool, arguments, input: input) }
        }
    }

    /// Runs in the calling thread's netns. Call from a dedicated thread.
    public static func runHere(_ tool: String, _ arguments: [String], input: String = "") throws -> Output {
        let command = try startHere(tool, arguments)
        // Write input from a helper thread so a chatty tool cannot deadlock against a full pipe.
        let writer = Thread {
            command.write(input)
            command.closeInput()
        }
        writer.start()
        return command.finish(closingInput: false)
    }

    /// Starts the tool inside the netns and returns while it runs, for a conversation over its
    /// stdin and stdout from any thread.
    public static func start(_ tool: String, _ arguments: [String], in netns: String) throws -> RunningCommand {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) { try startHere(tool, arguments) }
        }
    }

    static func startHere(_ tool: String, _ arguments: [String]) throws -> RunningCommand {
        guard let executable = tool.hasPrefix("/") ? tool : KernelProbe.which(tool) else {
            throw NetnsError("\(tool) is not installed: run scripts/setup (apt-get install it)")
        }
        var stdinPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&stdinPipe) == 0, pipe(&outPipe) == 0 else { throw NetnsError.errno("create pipes for \(tool)") }
        for fd in [stdinPipe[1], outPipe[0]] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        meshlab_spawn_closefrom(&actions, 3)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(stdinPipe[0])
        close(outPipe[1])
        guard rc == 0 else {
            close(stdinPipe[1])
            close(outPipe[0])
            throw NetnsError.errno("start \(tool)", rc)
        }
        return RunningCommand(pid: pid, input: stdinPipe[1], output: outPipe[0])
    }
}

/// A tool started by `NetnsCommand.start`: its stdin, its stdout (and stderr) line by line, its exit.
public final class RunningCommand: @unchecked Sendable {
    private let pid: pid_t
    private var input: Int32
    private let output: Int32
    private var collected: [UInt8] = []
    /// How much of `collected` `nextLine` has handed out.
    private var consumed = 0

    init(pid: pid_t, input: Int32, output: Int32) {
        self.pid = pid
        self.input = input
        self.output = output
    }

    public func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count, input >= 0 {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(input, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            offset += written
        }
    }

    public func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    /// The next line of output, or nil once the tool closed its output.
    public func nextLine() -> String? {
        while true {
            if let newline = collected[consumed...].firstIndex(of: UInt8(ascii: "\n")) {
                defer { consumed = newline + 1 }
                return String(decoding: collected[consumed..<newline], as: UTF8.self)
            }
            guard readMore() else { return nil }
        }
    }

    private func readMore() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(output, &buffer, buffer.count)
        guard count > 0 else { return false }
        collected += buffer[0..<count]
        return true
    }

    /// Waits for the tool to exit; the output is everything it printed. Closes its stdin first
    /// unless another thread is still writing it.
    public func finish(closingInput: Bool = true) -> NetnsCommand.Output {
        if closingInput { closeInput() }
        while readMore() {}
        close(output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return NetnsCommand.Output(status: exitCode, output: String(decoding: collected, as: UTF8.self))
    }
}
