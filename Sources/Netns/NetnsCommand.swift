import CSyscalls
import Foundation
import Glibc

/// Runs a tool (iptables-restore, tc, conntrack) to completion inside a netns: it inherits the
/// netns of the thread that spawns it, so the spawn happens from a thread that entered the netns.
public enum NetnsCommand {
    public struct Output: Sendable {
        public var status: Int32
        public var output: String
    }

    /// `input` is written to the tool's stdin (an iptables-restore batch, say); stdout and stderr are collected.
    public static func run(_ tool: String, _ arguments: [String], in netns: String, input: String = "") throws -> Output {
        try DedicatedThread.run {
            try NetworkNamespace.within(netns) { try runHere(tool, arguments, input: input) }
        }
    }

    /// Runs in the calling thread's netns. Call from a dedicated thread.
    public static func runHere(_ tool: String, _ arguments: [String], input: String = "") throws -> Output {
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
        // Write input from a helper thread so a chatty tool cannot deadlock against a full pipe.
        let writer = Thread { [inputFD = stdinPipe[1]] in
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(inputFD, $0.baseAddress, $0.count) }
                if written <= 0 { break }
                offset += written
            }
            close(inputFD)
        }
        writer.start()
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(outPipe[0], &buffer, buffer.count)
            if count <= 0 { break }
            collected += buffer[0..<count]
        }
        close(outPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exitCode, output: String(decoding: collected, as: UTF8.self))
    }
}
