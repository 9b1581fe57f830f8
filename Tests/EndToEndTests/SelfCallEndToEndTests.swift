import Dataplane
import Foundation
import MeshLab
import XCTest

/// A malicious pod knocks on every port a MeshLab process listens on, in every redirection mode, as
/// ztunnel's own netns tests probe it: plaintext from outside the mesh and from a mesh pod, and HBONE
/// CONNECTs (python-h2, a certificate from the lab CA) to every captured pod for every port found.
/// Whatever each port answers, no process may loop on its own connections: afterwards every process
/// is alive, its descriptors are back to where they were and it is idle. Once with ztunnel's
/// illegal-ports rule, once with the rule off, where the guard against a proxy's own connections
/// must hold alone.
final class SelfCallEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
    }

    private func labFile(_ mode: String) -> String {
        let inPod = mode.hasPrefix("inpod")
        return """
        import MeshLab

        let lab = Lab("selfcall-\(mode.lowercased())", settings: LabSettings(redirect: .\(mode))) {
            Node("node-a")
            Node("node-b")
            Namespace("mesh", mode: .ambient) {
                Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
                Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
            }
            Namespace("legacy") {
                Pod("client", node: "node-a", app: .client)
            }
            Namespace("l7", mode: .ambient, waypoint: "waypoint") {
                Waypoint("waypoint", node: "node-b")
                Pod("web", serviceAccount: "web", node: "node-a", app: .echo(ports: [8000]))
            }
            \(inPod ? """
            Namespace("shop", mode: .ambient, waypoint: "proxied") {
                Waypoint("proxied", node: "node-a", inbound: .proxy())
                Pod("store", serviceAccount: "store", node: "node-b", app: .echo(ports: [8000]))
            }
            """ : "")
            Namespace("injected", mode: .sidecar) {
                Pod("api", serviceAccount: "api", node: "node-b", app: .echo(ports: [8000]))
            }
        }
        """
    }

    func testNoProcessLoopsOnItsOwnPortsInAnyRedirectionMode() throws {
        let before = try Harness.rootNetworkSnapshot()
        for mode in ["inpod", "inpodTproxy", "iptables", "ebpf"] {
            let file = try Harness.temporaryFile("selfcall-\(mode).swift", labFile(mode))
            try probeEveryPort(file, lab: "selfcall-\(mode.lowercased())", mode: mode, rule: true)
            try probeEveryPort(file, lab: "selfcall-\(mode.lowercased())", mode: mode, rule: false)
        }
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before, "the root netns is untouched")
    }

    private func probeEveryPort(_ file: String, lab: String, mode: String, rule: Bool) throws {
        let context = "\(mode), illegal-ports rule \(rule ? "on" : "off")"
        // The bundled processes inherit `up`'s environment; ztunnel's own tests empty illegal_ports the same way.
        if !rule { setenv("MESHLAB_ZTUNNEL_ILLEGAL_PORTS", "", 1) }
        defer { unsetenv("MESHLAB_ZTUNNEL_ILLEGAL_PORTS") }
        try Harness.meshlab("up", file)
        defer { _ = try? Harness.meshlab("down", lab, expect: nil) }
        unsetenv("MESHLAB_ZTUNNEL_ILLEGAL_PORTS")

        let state = try LabFiles(lab: lab)
        let echo = state.pod("mesh/echo").ip.description
        // ztunnel's own ports at a captured pod, whether or not a listener sits in its netns (node-level modes).
        let targets = Set(try state.listeners().map(\.target) + [15001, 15006, 15008].map { "\(echo):\($0)" }).sorted()
        XCTAssertFalse(targets.isEmpty, context)

        // Plaintext, from outside the mesh and from a mesh pod. The first round opens what stays open
        // by design (ztunnel keeps HBONE connections pooled for minutes); the second must end where it began.
        var outcomes: [String: [String: String]] = [:]
        var baseline: [Int32: Int] = [:]
        for round in 1...2 {
            if round == 2 { baseline = Dictionary(uniqueKeysWithValues: state.processes.map { ($0.pid, Self.descriptors($0.pid)) }) }
            for pod in ["legacy/client", "mesh/sleep"] {
                let output = try Harness.runPeer("port_probe.py", lab: lab, in: pod, targets)
                outcomes[pod] = Dictionary(try output.split(separator: "\n").map {
                    let answer = try JSONDecoder().decode([String: String].self, from: Data($0.utf8))
                    return (answer["target"]!, answer["outcome"]!)
                }) { first, _ in first }
            }
        }
        for pod in ["legacy/client", "mesh/sleep"] {
            // A captured pod's own ztunnel ports serve nobody: nothing answers there.
            for port in [15001, 15006] {
                let outcome = outcomes[pod]?["\(echo):\(port)"] ?? "not probed"
                XCTAssertFalse(outcome.hasPrefix("answered"), "\(context): \(pod) → \(echo):\(port) was answered: \(outcome)")
            }
        }

        // HBONE to every captured pod, asking for every port that anything in the lab listens on.
        let certs = "/run/meshlab/\(lab)/certs"
        let authority = try CertificateAuthority(certificatePEM: String(contentsOfFile: "\(certs)/root.pem", encoding: .utf8),
                                                 keyPEM: String(contentsOfFile: "\(certs)/root-key.pem", encoding: .utf8))
        let issued = try authority.issue(for: SpiffeID(trustDomain: "cluster.local", namespace: "legacy", serviceAccount: "default"))
        let cert = try Harness.temporaryFile("selfcall-peer.pem", issued.certificatePEM)
        let key = try Harness.temporaryFile("selfcall-peer-key.pem", issued.keyPEM)
        defer { for file in [cert, key] { try? FileManager.default.removeItem(atPath: file) } }
        let ports = Set(targets.compactMap { $0.split(separator: ":").last.map(String.init) }).sorted()
        for pod in state.topology.pods where pod.mode == .ambient {
            let output = try Harness.runPeer("hbone_ports.py", lab: lab, in: "legacy/client",
                                             [pod.ip.description, cert, key, "\(certs)/root.pem"] + ports)
            let answers = try output.split(separator: "\n").map { try JSONDecoder().decode(HBONEAnswer.self, from: Data($0.utf8)) }
            XCTAssertEqual(answers.compactMap(\.error), [], "\(context): HBONE to \(pod.id)")
            guard rule else { continue }
            let statuses = Dictionary(answers.compactMap { answer in answer.port.map { ($0, answer.status ?? "?") } }) { first, _ in first }
            for port in [15001, 15006, 15008] {
                XCTAssertEqual(statuses[port], "503", "\(context): CONNECT \(pod.ip):\(port) at \(pod.id) is a call to ztunnel itself")
            }
        }

        // No process loops: each is alive, its descriptors come back (a connect to an address that never
        // answers is given up after ten seconds, as ztunnel does), and it goes idle.
        for process in state.processes { XCTAssertEqual(kill(process.pid, 0), 0, "\(context): \(process.name) died") }
        let settled = Self.waitUntil(seconds: 20) { state.processes.allSatisfy { Self.descriptors($0.pid) <= baseline[$0.pid]! + 4 } }
        if rule {
            for process in state.processes where !settled {
                XCTAssertLessThanOrEqual(Self.descriptors(process.pid), baseline[process.pid]! + 4,
                                         "\(context): \(process.name) holds more descriptors than before the probes")
            }
        } else {
            // With ztunnel's own ports allowed, calls through a waypoint to them end half-closed and
            // stay (a known gap, below the rule); what must hold is that nothing multiplies: a loop
            // would hold thousands of descriptors within seconds and keep growing.
            let held = Dictionary(uniqueKeysWithValues: state.processes.map { ($0.pid, Self.descriptors($0.pid)) })
            usleep(3_000_000)
            for process in state.processes {
                XCTAssertLessThanOrEqual(Self.descriptors(process.pid), held[process.pid]!, "\(context): \(process.name)'s descriptors still grow")
                XCTAssertLessThanOrEqual(held[process.pid]!, baseline[process.pid]! + targets.count,
                                         "\(context): \(process.name) holds \(held[process.pid]!) descriptors, \(baseline[process.pid]!) before")
            }
        }
        for (process, busy) in zip(state.processes, Self.cpuSeconds(state.processes.map(\.pid), over: 1)) {
            XCTAssertLessThan(busy, 0.3, "\(context): \(process.name) used \(busy) s of CPU in one idle second")
        }

        let ztunnelLogs = try state.processes.filter { $0.name.hasPrefix("ztunnel") }.map { try state.log($0.name) }.joined()
        if rule {
            XCTAssertTrue(ztunnelLogs.contains("attempted recursive call to ourselves"), "\(context): the refusals are logged")
            // Counted too: the echo pod's node's ztunnel serves its metrics in its own netns.
            let ztunnel = state.processes.first { $0.name == "ztunnel-\(state.pod("mesh/echo").node)" }!
            let metrics = try Harness.run("ip", ["netns", "exec", ztunnel.netns, "curl", "-s", "http://127.0.0.1:15020/metrics"]).stdout
            let refused = metrics.split(separator: "\n").filter { $0.hasPrefix("meshlab_self_calls_refused_total{direction=\"inbound\"}") }
            XCTAssertFalse(refused.isEmpty || refused.contains { $0.hasSuffix(" 0") }, "\(context): refusals are counted\n\(metrics)")
        } else if mode.hasPrefix("inpod") {
            // Without the rule, the plaintext connection to 15006 comes back to the listener that sent it.
            XCTAssertTrue(ztunnelLogs.contains("connection originated by this proxy came back to it"),
                          "\(context): the guard refused ztunnel's own connection\n\(ztunnelLogs.suffix(3000))")
        }

        // And the mesh still works.
        let calls = try Harness.calls(lab: lab, from: "mesh/sleep", "\(echo):8000")
        XCTAssertEqual(calls.map(\.outcome), [.ok], context)
    }

    /// One line of `Peers/hbone_ports.py`.
    struct HBONEAnswer: Decodable {
        var port: Int?
        var status: String?
        var error: String?
    }

    static func descriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// CPU seconds (user + system) each of `pids` uses during the same next `seconds`.
    static func cpuSeconds(_ pids: [Int32], over seconds: Double) -> [Double] {
        func ticks(_ pid: Int32) -> Double {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let end = stat.lastIndex(of: ")") else { return 0 }
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            // After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
            return (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        }
        let start = pids.map(ticks)
        usleep(UInt32(seconds * 1_000_000))
        return zip(pids, start).map { (ticks($0) - $1) / Double(sysconf(Int32(_SC_CLK_TCK))) }
    }

    static func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition() { return true }
            usleep(200_000)
        }
        return condition()
    }
}

/// A running lab as its state directory records it: processes, netns, topology, logs.
struct LabFiles {
    struct Process: Decodable {
        var name: String
        var netns: String
        var pid: Int32
    }

    struct Listener {
        var netns: String
        var target: String
    }

    private struct State: Decodable {
        var netns: [String]
        var processes: [Process]
    }

    let directory: String
    let processes: [Process]
    let netns: [String]
    let topology: Topology

    init(lab: String) throws {
        directory = "/run/meshlab/\(lab)"
        let state = try JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/state.json")))
        processes = state.processes
        netns = state.netns
        topology = try JSONDecoder().decode(Topology.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/topology.json")))
    }

    func pod(_ id: String) -> Topology.PodInfo { topology.pods.first { $0.id == id }! }

    func log(_ process: String) throws -> String {
        try String(contentsOfFile: "\(directory)/logs/\(process).log", encoding: .utf8)
    }

    /// Every TCP listener in the lab's netns, as an address another pod can try: a wildcard listener
    /// at each of its netns' addresses. Loopback-only listeners are out of a pod's reach.
    func listeners() throws -> [Listener] {
        try netns.flatMap { name -> [Listener] in
            let addresses = try Harness.run("ip", ["-n", name, "-4", "-o", "addr", "show"]).stdout
                .split(separator: "\n").compactMap { line -> String? in
                    let fields = line.split(separator: " ")
                    guard let index = fields.firstIndex(of: "inet"), index + 1 < fields.count else { return nil }
                    let ip = String(fields[index + 1].split(separator: "/")[0])
                    return ip.hasPrefix("127.") ? nil : ip
                }
            let sockets = try Harness.run("ip", ["netns", "exec", name, "ss", "-Hltn"]).stdout.split(separator: "\n")
            let bound = Set(sockets.compactMap { line -> String? in
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                return fields.count >= 4 ? String(fields[3]) : nil
            })
            return bound.flatMap { local -> [Listener] in
                let parts = local.split(separator: ":")
                guard parts.count == 2 else { return [] }
                let ip = String(parts[0]), port = String(parts[1])
                if ip == "0.0.0.0" || ip == "*" { return addresses.map { Listener(netns: name, target: "\($0):\(port)") } }
                return ip.hasPrefix("127.") ? [] : [Listener(netns: name, target: "\(ip):\(port)")]
            }
        }
    }
}
