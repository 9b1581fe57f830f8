import Dataplane
import Foundation
import XCTest

/// Runs the built `meshlab` binary as a user would, and reads the machine the way a residue check must.
enum Harness {
    /// End-to-end tests need root. Skipping is allowed only off CI, and is said loudly.
    static func requireRoot() throws {
        guard geteuid() != 0 else { return }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("end-to-end tests must run as root in CI (they build real network namespaces)")
            throw XCTSkip("not root in CI")
        }
        let warning = "\n*** SKIPPING END-TO-END TESTS: not root. They build real network namespaces; run `sudo swift test`. ***\n"
        FileHandle.standardError.write(Data(warning.utf8))
        throw XCTSkip("end-to-end tests need root")
    }

    /// `meshlab` next to the test bundle in the build directory.
    static let binary: String = {
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("meshlab").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return "meshlab"
    }()

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    static func meshlab(_ arguments: String..., expect status: Int32? = 0, file: StaticString = #filePath, line: UInt = #line) throws -> Output {
        try meshlab(arguments, expect: status, file: file, line: line)
    }

    @discardableResult
    static func meshlab(_ arguments: [String], expect status: Int32? = 0, file: StaticString = #filePath, line: UInt = #line) throws -> Output {
        let output = try run(binary, arguments)
        if let status, output.status != status {
            XCTFail("meshlab \(arguments.joined(separator: " ")) exited \(output.status), expected \(status)\n\(output.stderr)\(output.stdout)",
                    file: file, line: line)
        }
        return output
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so neither fills up.
        let errData = LockedData()
        let reader = Thread { errData.value = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.value, as: UTF8.self))
    }

    /// One stream's answer to `Peers/h2c_streams.py`.
    struct StreamAnswer: Decodable {
        var stream: Int
        var status: String?
    }

    /// A script of `Peers/` (independent clients: python-h2, raw sockets).
    static func peer(_ script: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Peers/\(script)").path
    }

    /// `meshlab exec` of a peer script in a pod.
    static func peerCommand(_ script: String, lab: String, in pod: String, _ arguments: [String]) -> [String] {
        ["exec", "--lab", lab, pod, "--", "/usr/bin/python3", peer(script)] + arguments
    }

    /// Runs a peer script in a pod and returns what it printed (its exit status must be 0).
    static func runPeer(_ script: String, lab: String, in pod: String, _ arguments: [String],
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try meshlab(peerCommand(script, lab: lab, in: pod, arguments), file: file, line: line).stdout
    }

    /// `count` h2c streams from an independent client (python-h2) that sends them all in its first write.
    static func concurrentStreams(lab: String, from pod: String, to address: String, count: Int) throws -> [StreamAnswer] {
        let output = try runPeer("h2c_streams.py", lab: lab, in: pod, [address, String(count)])
        return try output.split(separator: "\n").map { try JSONDecoder().decode(StreamAnswer.self, from: Data($0.utf8)) }
    }

    /// What `Peers/bidi_stream.py` got back: each part of a streamed request body is echoed (by the
    /// echo's /stream) before the client sends the next one.
    struct StreamedExchange: Decodable {
        var status: String?
        var received: [String]
    }

    /// `abandon`: the client gives up after the last echo (h2: RST_STREAM, http1: closes) instead of ending its request.
    static func bidiStream(lab: String, from pod: String, to address: String, _ protocolName: String, parts: Int,
                           abandon: Bool = false) throws -> StreamedExchange {
        let output = try runPeer("bidi_stream.py", lab: lab, in: pod, [address, protocolName, String(parts)] + (abandon ? ["abandon"] : []))
        return try JSONDecoder().decode(StreamedExchange.self, from: Data(output.utf8))
    }

    /// Clients that leave mid-request, through an L7 proxy: the proxy logs Envoy's flag for how they
    /// left — DR for an HTTP/2 stream reset, DC for an HTTP/1.1 connection closed — and one that sends
    /// a whole request and half-closes gets its answer, then the end of the connection.
    static func assertClientsThatLeaveAreLogged(lab: String, from pod: String, to address: String, proxyLog: String,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        for (protocolName, flag) in [("h2", "DR"), ("http1", "DC")] {
            XCTAssertEqual(try bidiStream(lab: lab, from: pod, to: address, protocolName, parts: 1, abandon: true).received, ["part-1"], file: file, line: line)
            let logged = try logLine("/run/meshlab/\(lab)/logs/\(proxyLog).log", containing: "\"response_flags\":\"\(flag)\"", file: file, line: line)
            XCTAssertTrue(logged.contains("\"path\":\"/stream\"") && logged.contains("\"method\":\"PUT\""), logged, file: file, line: line)
        }
        let answer = try runPeer("half_close.py", lab: lab, in: pod, [address], file: file, line: line)
        XCTAssertEqual(answer.trimmingCharacters(in: .whitespacesAndNewlines), "HTTP/1.1 200 OK", file: file, line: line)
    }

    /// What `Peers/websocket.py` saw: the handshake, who answered, the echoed messages, the close.
    struct WebSocketSession: Decodable {
        var status: Int
        var accept: Bool
        var reply: EchoReply?
        var echoed: [String]?
        var closed: Bool?
    }

    /// Runs `Peers/websocket.py` (3 messages) from a pod. A refused handshake answers with its status
    /// and the end of the connection (the peer reads the answer head, then stops).
    static func webSocket(lab: String, from pod: String, to address: String, file: StaticString = #filePath, line: UInt = #line) throws -> WebSocketSession {
        let output = try runPeer("websocket.py", lab: lab, in: pod, [address, "3"], file: file, line: line)
        return try JSONDecoder().decode(WebSocketSession.self, from: Data(output.utf8))
    }

    /// A WebSocket session through an L7 proxy (an independent client against echo's WebSocket
    /// endpoint): upgraded end to end, messages echoed, closed cleanly, and logged as a 101.
    static func assertWebSocketPasses(lab: String, from pod: String, to address: String, reaching server: String, proxyLog: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        let session = try webSocket(lab: lab, from: pod, to: address, file: file, line: line)
        XCTAssertEqual(session.status, 101, file: file, line: line)
        XCTAssertTrue(session.accept, "Sec-WebSocket-Accept matches the key", file: file, line: line)
        XCTAssertEqual(session.reply?.protocol, "websocket", file: file, line: line)
        XCTAssertTrue(session.reply?.pod.hasPrefix(server) ?? false, "\(session.reply?.pod ?? "-") answered", file: file, line: line)
        XCTAssertEqual(session.echoed, ["message-1", "message-2", "message-3"], file: file, line: line)
        XCTAssertEqual(session.closed, true, "the close handshake went both ways", file: file, line: line)
        let logged = try logLine("/run/meshlab/\(lab)/logs/\(proxyLog).log", containing: "\"path\":\"/ws\"", file: file, line: line)
        XCTAssertTrue(logged.contains("\"status\":101"), logged, file: file, line: line)
    }

    /// The pid of the lab process whose command line contains `pattern` ("meshlab waypoint --lab L ").
    /// Throws when none matches, so a memory check never measures nothing.
    static func processID(_ pattern: String) throws -> String {
        guard let pid = try run("pgrep", ["-f", pattern]).stdout.split(separator: "\n").first else {
            throw NoSuchProcess(pattern: pattern)
        }
        return String(pid)
    }

    struct NoSuchProcess: Error, CustomStringConvertible {
        var pattern: String
        var description: String { "no process runs with \"\(pattern)\" in its command line" }
    }

    /// A process's resident memory, in KiB.
    static func residentKB(_ pid: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return Int(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?.split(separator: " ")[1] ?? "0") ?? 0
    }

    /// Starts `meshlab ARGUMENTS`, its output piped back.
    static func start(_ arguments: [String]) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        return (process, output)
    }

    /// A client that stops reading a 200 MiB response for a while, through an L7 proxy: the proxy
    /// stops reading the server instead of holding the response (without flow control its RSS grew
    /// by 1.3 GB; with it, 17–150 MB in debug builds: a few flow-control windows plus allocator slack
    /// that varies from run to run, hence the loose bound), and the whole response arrives once the
    /// client reads again.
    static func assertSlowReaderHoldsTheServerBack(lab: String, from pod: String, to address: String, proxy: String,
                                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let pid = try processID("meshlab \(proxy) --lab \(lab) ")
        let before = residentKB(pid)
        let size = 200 << 20
        let client = try start(peerCommand("slow_reader.py", lab: lab, in: pod, [address, String(size), "4"]))
        sleep(3)  // the client reads its first MiB, then nothing: the response would pile up in the proxy
        let grownMB = (residentKB(pid) - before) / 1024
        client.process.waitUntilExit()
        XCTAssertLessThan(grownMB, 256, "the proxy held \(grownMB) MB of a response its client was not reading", file: file, line: line)
        let result = String(decoding: client.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(result.contains("\"received\": \(size)"), "all of it arrived once read: \(result)", file: file, line: line)
    }

    /// What `Peers/upload.py` got back.
    struct UploadResult: Decodable {
        var status: Int?
        var stored: Int
    }

    /// 200 MiB uploaded from `client` to `Peers/holding_server.py` on port 7777 of `server` (at
    /// `serverIP`), which reads none of it for 4 s: the path's flow control holds the client back,
    /// so none of the `watched` processes (name → command-line pattern) grows by `boundMB` meanwhile,
    /// and every byte arrives once the server reads. `rounds` uploads in turn (the later ones ride
    /// the HBONE connection the first one opened).
    static func assertHeldUploadHoldsTheClientBack(lab: String, from client: String, to server: String, serverIP: String, mode: String,
                                                   watched: [String: String], boundMB: Int, rounds: Int = 1,
                                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let pids = try watched.mapValues { try processID($0) }
        let size = 200 << 20
        for round in 1...rounds {
            let holder = try start(peerCommand("holding_server.py", lab: lab, in: server, ["7777", "4", mode]))
            var greeting = ""
            while !greeting.contains("ready") {
                let data = holder.output.fileHandleForReading.availableData
                guard !data.isEmpty else { return XCTFail("the holding server did not start", file: file, line: line) }
                greeting += String(decoding: data, as: UTF8.self)
            }
            let before = pids.mapValues(residentKB)
            let uploader = try start(peerCommand("upload.py", lab: lab, in: client, ["\(serverIP):7777", String(size), mode]))
            sleep(3)  // the server reads nothing yet: the upload would pile up wherever flow control is missing
            let grownMB = pids.mapValues(residentKB).merging(before, uniquingKeysWith: -).mapValues { $0 / 1024 }
            uploader.process.waitUntilExit()
            holder.process.waitUntilExit()
            for (name, grown) in grownMB.sorted(by: { $0.key < $1.key }) {
                XCTAssertLessThan(grown, boundMB, "round \(round): \(name) held \(grown) MB of an upload its server was not reading", file: file, line: line)
            }
            let output = String(decoding: uploader.output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let result = try JSONDecoder().decode(UploadResult.self, from: Data(output.utf8))
            XCTAssertEqual(result.stored, size, "round \(round): all of it arrived once read", file: file, line: line)
            if mode == "http" { XCTAssertEqual(result.status, 200, file: file, line: line) }
        }
    }

    /// The first line of a process log that contains `text`, once it is written: a proxy logs a
    /// request when it ends, which may be just after the client has gone. Fails after 10 s.
    static func logLine(_ path: String, containing text: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        for _ in 0..<100 {
            let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if let found = log.split(separator: "\n").first(where: { $0.contains(text) }) { return String(found) }
            usleep(100_000)
        }
        XCTFail("no line with \(text) in \(path)", file: file, line: line)
        return ""
    }

    /// Calls made from a pod with the bundled client, decoded.
    static func calls(lab: String? = nil, from pod: String, _ target: String, _ extra: [String] = [], expect status: Int32? = 0,
                      file: StaticString = #filePath, line: UInt = #line) throws -> [CallResult] {
        let labOption = lab.map { ["--lab", $0] } ?? []
        let output = try meshlab(["exec"] + labOption + [pod, "--", binary, "client", target] + extra, expect: status, file: file, line: line)
        return try output.stdout.split(separator: "\n").map { try JSONDecoder().decode(CallResult.self, from: Data($0.utf8)) }
    }

    /// The root network namespace as `ip` and `iptables-save` show it, minus counters and timers.
    static func rootNetworkSnapshot() throws -> String {
        let commands: [[String]] = [
            ["ip", "-br", "link"], ["ip", "-br", "addr"], ["ip", "route", "show", "table", "all"], ["ip", "rule"], ["ip", "netns", "list"],
        ]
        var parts = try commands.map { try run($0[0], Array($0.dropFirst())).stdout }
        if let save = try? run("iptables-save", []), save.status == 0 {
            parts.append(save.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
                .map { $0.replacingOccurrences(of: #"\[\d+:\d+\]"#, with: "", options: .regularExpression) }.joined(separator: "\n"))
        }
        return parts.joined(separator: "\n---\n")
    }

    /// Every trace a lab can leave: its netns, processes inside them, its state directory.
    static func residue(of lab: String) throws -> [String] {
        let netns = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns"))?.filter { $0.hasPrefix(lab + "-") } ?? []
        let processes = try run("pgrep", ["-af", "meshlab (echo|ztunnel|redirector|waypoint|sidecar) --lab \(lab) "]).stdout.split(separator: "\n").map(String.init)
        let state = FileManager.default.fileExists(atPath: "/run/meshlab/\(lab)") ? ["/run/meshlab/\(lab)"] : []
        return netns.map { "netns \($0)" } + processes.map { "process \($0)" } + state
    }

    /// The process logs (last lines of each) from the evidence bundles `meshlab test` wrote into
    /// `folder` on failure: a failing CI run then says which hop dropped the call.
    static func bundleLogs(in folder: String, lastLines: Int = 30) -> String {
        let bundles = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".tar.gz") }
        return bundles.map { bundle in
            let unpacked = folder + "/" + bundle.dropLast(".tar.gz".count)
            try? FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
            _ = try? run("tar", ["-xzf", folder + "/" + bundle, "-C", unpacked])
            let logs = ((try? FileManager.default.contentsOfDirectory(atPath: unpacked + "/logs")) ?? []).sorted()
            return logs.map { log in
                let text = (try? String(contentsOfFile: unpacked + "/logs/" + log, encoding: .utf8)) ?? ""
                return "--- \(bundle) logs/\(log)\n" + text.split(separator: "\n").suffix(lastLines).joined(separator: "\n")
            }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// A lab file on two nodes (`node-a`, `node-b`) in the temporary folder: `body` holds the rest of
    /// `Lab(lab, settings: …) { … }`, its namespaces and checks; `preamble` goes above the lab.
    static func twoNodeLabFile(_ lab: String, file: String? = nil, settings: String? = nil, preamble: String = "", _ body: String) throws -> String {
        try temporaryFile(file ?? "\(lab).swift", """
            import MeshLab
            \(preamble)
            let lab = Lab("\(lab)"\(settings.map { ", settings: \($0)" } ?? "")) {
                Node("node-a")
                Node("node-b")
            \(body)
            }
            """)
    }

    static func temporaryFile(_ name: String, _ contents: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-e2e-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    var value: Data {
        get { lock.withLock { data } }
        set { lock.withLock { data = newValue; finished = true } }
    }
    var done: Bool { lock.withLock { finished } }
}

extension Harness {
    /// A process's peak resident memory (VmHWM) since it started or since `resetPeakResident`, in KiB.
    static func peakResidentKB(_ pid: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return Int(status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?.split(separator: " ")[1] ?? "0") ?? 0
    }

    /// Starts a new peak for `peakResidentKB` at the current RSS (`5` to clear_refs, Linux 4.0+), so
    /// one attack's peak is not hidden by an earlier one's.
    static func resetPeakResident(_ pid: String) {
        guard let file = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return }
        file.write(Data("5".utf8))
        try? file.close()
    }

    /// Whether a process with this pid still runs (and is not a zombie).
    static func isRunning(_ pid: String) -> Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let state = stat.split(separator: ")").last?.split(separator: " ").first else { return false }
        return state != "Z" && state != "X"
    }

    /// Open file descriptors across a lab's processes (sockets among them): what a connection that
    /// is never closed leaves behind, on whichever side of it.
    static func openFiles(lab: String) throws -> Int {
        let pids = try run("pgrep", ["-f", "meshlab (echo|ztunnel|redirector|waypoint|sidecar) --lab \(lab) "]).stdout.split(separator: "\n")
        return pids.reduce(0) { $0 + ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\($1)/fd"))?.count ?? 0) }
    }

    /// Connection ids that a lab's ztunnels logged as opened and not (yet) as closed: every
    /// connection ztunnel opens ends in one closed event ("connection complete" in ztunnel's log).
    static func unclosedConnections(lab: String) -> Set<String> {
        let folder = "/run/meshlab/\(lab)/logs"
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasPrefix("ztunnel-") }
        var opened = Set<String>(), closed = Set<String>()
        for log in logs {
            let text = (try? String(contentsOfFile: "\(folder)/\(log)", encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let id = event["id"] as? String else { continue }
                switch event["event"] as? String {
                case "opened": opened.insert(id)
                case "closed": closed.insert(id)
                default: break
                }
            }
        }
        return opened.subtracting(closed)
    }
}
