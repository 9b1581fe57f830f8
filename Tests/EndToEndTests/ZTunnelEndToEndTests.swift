import Dataplane
import Foundation
import XCTest

/// The ambient data plane end to end: in-pod capture, HBONE with SPIFFE identities, L4 policy,
/// checked against real traffic, a real capture, and independent peers (python h2, openssl).
final class ZTunnelEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
    }

    func ztunnelLog(_ lab: String, _ node: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: "/run/meshlab/\(lab)/logs/ztunnel-\(node).log", encoding: .utf8)
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testAmbientTrafficRidesHBONEWithIdentitiesAndNoPlaintextOnTheWire() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        // Capture everything crossing the underlay bridge between the nodes.
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("underlay-\(getpid()).pcap").path
        let capture = Process()
        capture.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        capture.arguments = ["netns", "exec", "ambient-basic-underlay", "tcpdump", "-i", "br0", "-U", "-w", pcap, "tcp"]
        capture.standardOutput = FileHandle.nullDevice
        capture.standardError = FileHandle.nullDevice
        try capture.run()
        defer { try? FileManager.default.removeItem(atPath: pcap) }
        while !FileManager.default.fileExists(atPath: pcap) { usleep(10_000) }
        usleep(300_000)  // tcpdump attaches after it creates the file

        let secret = "meshlab-plaintext-canary-\(getpid())"
        let cross = try Harness.calls(from: "ambient/sleep-a", "http://10.244.1.3:8000/\(secret)", ["-n", "3", "--header", "x-canary:\(secret)"])
        XCTAssertEqual(cross.map { $0.reply?.pod }, Array(repeating: "ambient/echo-b", count: 3))
        XCTAssertEqual(cross.first?.reply?.sourceIP, "10.244.0.2", "in-pod ztunnel preserves the original source")
        let raw = try Harness.calls(from: "ambient/sleep-a", "tcp://10.244.1.3:9000", ["--payload", "200000"])
        XCTAssertEqual(raw.first?.echoIntact, true)
        let sameNode = try Harness.calls(from: "ambient/sleep-a", "h2://10.244.0.3:8000/")
        XCTAssertEqual(sameNode.first?.reply?.pod, "ambient/echo-a")
        let viaService = try Harness.calls(from: "ambient/sleep-b", "http://10.96.0.1:80/", ["-n", "4"])
        XCTAssertEqual(Set(viaService.compactMap { $0.reply?.pod }), ["ambient/echo-a", "ambient/echo-b"], "VIP load-balances over both endpoints")
        usleep(300_000)
        kill(capture.processIdentifier, SIGINT)
        capture.waitUntilExit()

        // On the wire: every TCP segment between the nodes is HBONE (port 15008), and the request never appears in clear.
        let packets = try Harness.run("tcpdump", ["-nn", "-r", pcap, "tcp"]).stdout.split(separator: "\n")
        XCTAssertGreaterThan(packets.count, 10)
        XCTAssertEqual(packets.filter { !$0.contains(".15008") }, [], "non-HBONE TCP crossed the node network")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: pcap))
        XCTAssertNil(bytes.range(of: Data(secret.utf8)), "the request crossed the node network in plaintext")

        // The destination ztunnel saw the client's SPIFFE identity and logged the whole connection.
        let inbound = try ztunnelLog("ambient-basic", "node-b").filter { $0["direction"] as? String == "inbound" }
        let closed = inbound.filter { $0["event"] as? String == "closed" && ($0["dst.addr"] as? String) == "10.244.1.3:8000" }
        XCTAssertGreaterThanOrEqual(closed.count, 3)
        XCTAssertEqual(closed.first?["src.identity"] as? String, "spiffe://cluster.local/ns/ambient/sa/sleep")
        XCTAssertEqual(closed.first?["dst.hbone_addr"] as? String, "10.244.1.3:15008")
        XCTAssertGreaterThan(closed.first?["bytes_sent"] as? Int ?? 0, 0)

        // What each ztunnel holds, and its metrics.
        let dump = try JSONDecoder().decode(ZTunnelDump.self, from: Data(Harness.meshlab("ztunnel-config", "node-a").stdout.utf8))
        XCTAssertEqual(dump.capturedWorkloads, ["ambient/echo-a", "ambient/sleep-a"], "only node-a's ambient pods are captured")
        XCTAssertEqual(dump.identities, ["spiffe://cluster.local/ns/ambient/sa/echo", "spiffe://cluster.local/ns/ambient/sa/sleep"])
        XCTAssertEqual(dump.config?.workloads.count, 6)
        // Five calls from sleep-a (three HTTP and a raw TCP call to echo-b, one to echo-a) rode two pooled
        // HBONE connections: one per (source, destination) pair.
        XCTAssertEqual(dump.pooledConnections, 2)
        let metrics = try Harness.meshlab("exec", "node-b", "--", "bash", "-c",
                                          "exec 3<>/dev/tcp/10.244.1.254/15020; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3").stdout
        XCTAssertTrue(metrics.contains("istio_tcp_connections_opened_total{reporter=\"destination\""), metrics)
        XCTAssertTrue(metrics.contains("source_principal=\"spiffe://cluster.local/ns/ambient/sa/sleep\""), metrics)
        XCTAssertTrue(metrics.contains("connection_security_policy=\"mutual_tls\""), metrics)
        XCTAssertTrue(metrics.contains("source_workload=\"sleep-a\""), metrics)
        let ready = try Harness.meshlab("exec", "node-b", "--", "bash", "-c",
                                        "exec 3<>/dev/tcp/10.244.1.254/15021; printf 'GET /healthz/ready HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3").stdout
        XCTAssertTrue(ready.hasPrefix("HTTP/1.1 200") && ready.hasSuffix("ready\n"), ready)
    }

    func testLegacyAndAmbientTalkInPlaintext() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let intoMesh = try Harness.calls(from: "legacy/client", "http://10.244.1.3:8000/")
        XCTAssertEqual(intoMesh.first?.reply?.pod, "ambient/echo-b")
        XCTAssertEqual(intoMesh.first?.reply?.sourceIP, "10.244.0.4")
        let outOfMesh = try Harness.calls(from: "ambient/sleep-a", "http://10.244.1.4:8000/")
        XCTAssertEqual(outOfMesh.first?.reply?.pod, "legacy/server")

        let inbound = try ztunnelLog("ambient-basic", "node-b").first { $0["direction"] as? String == "inbound" && $0["event"] as? String == "opened" }
        XCTAssertNotNil(inbound)
        XCTAssertNil(inbound?["src.identity"], "plaintext from outside the mesh carries no identity")
        let outbound = try ztunnelLog("ambient-basic", "node-a").first { $0["dst.addr"] as? String == "10.244.1.4:8000" }
        XCTAssertNil(outbound?["dst.hbone_addr"], "out-of-mesh destinations are reached in plaintext, not HBONE")

        // A captured call to a port nobody serves: the destination ztunnel answers the CONNECT with 503.
        let unserved = try Harness.calls(from: "ambient/sleep-a", "tcp://10.244.1.3:7777", expect: 1)
        XCTAssertEqual(unserved.first?.outcome, .reset)
        XCTAssertTrue(try ztunnelLog("ambient-basic", "node-b").contains {
            ($0["reason"] as? String)?.hasPrefix("503: upstream connect failed") ?? false
        })
    }

    func testPolicyAllowsOnePrincipalRefusesOthersAndALiveDenyCutsOpenConnections() throws {
        try Harness.meshlab("up", "l4-policy")
        defer { _ = try? Harness.meshlab("down", "l4-policy", expect: nil) }
        XCTAssertEqual(try Harness.calls(from: "ambient/sleep", "http://10.244.1.2:8000/").first?.reply?.pod, "ambient/echo")
        XCTAssertNotEqual(try Harness.calls(from: "ambient/intruder", "http://10.244.1.2:8000/", expect: 1).first?.outcome, .ok)
        XCTAssertNotEqual(try Harness.calls(from: "legacy/client", "http://10.244.1.2:8000/", expect: 1).first?.outcome, .ok)
        let decisions = try ztunnelLog("l4-policy", "node-b").filter { $0["event"] as? String == "policy" }
        XCTAssertEqual(decisions.first?["policy"] as? String, "ambient/allow-sleep")
        XCTAssertEqual(decisions.filter { $0["allowed"] as? Bool == false }.map { $0["reason"] as? String },
                       ["allow policies exist, but none allowed", "allow policies exist, but none allowed"])

        // A long-lived connection from sleep, then a DENY for sleep pushed live.
        let held = Process()
        held.executableURL = URL(fileURLWithPath: Harness.binary)
        held.arguments = ["exec", "--lab", "l4-policy", "ambient/sleep", "--", Harness.binary, "client", "tcp://10.244.1.2:8000", "--hold", "20"]
        let output = Pipe()
        held.standardOutput = output
        held.standardError = FileHandle.nullDevice
        try held.run()
        // The first call opened one inbound connection; wait for the held one to be the second.
        while try openCount() < 2 && held.isRunning { usleep(20_000) }
        XCTAssertTrue(held.isRunning, "the long-lived call ended before the policy change")
        let denying = try l4PolicyVariant("deny", ambient: """
            Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
            Pod("intruder", serviceAccount: "intruder", node: "node-a", app: .client)
            Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
            AuthorizationPolicy("deny-sleep", action: .deny, selector: ["app": "echo"]) {
                Rule(from: [.principals(["cluster.local/ns/ambient/sa/sleep"])])
            }
            """)
        let applied = try Harness.meshlab("apply", denying)
        XCTAssertTrue(applied.stderr.contains("version 2 acknowledged"), applied.stderr)
        held.waitUntilExit()
        let cut = try JSONDecoder().decode(CallResult.self, from: output.fileHandleForReading.readDataToEndOfFile())
        XCTAssertNotEqual(cut.outcome, .ok, "the open connection outlived the DENY")
        XCTAssertTrue(try ztunnelLog("l4-policy", "node-b").contains {
            ($0["reason"] as? String)?.contains("explicitly denied by ambient/deny-sleep (policy changed; connection closed)") ?? false
        })
        XCTAssertNotEqual(try Harness.calls(from: "ambient/sleep", "http://10.244.1.2:8000/", expect: 1).first?.outcome, .ok)
    }

    /// labs/l4-policy.swift with another body for its ambient namespace, for `meshlab apply`.
    func l4PolicyVariant(_ name: String, ambient body: String) throws -> String {
        try Harness.twoNodeLabFile("l4-policy", file: "l4-policy-\(name).swift", """
                Namespace("ambient", mode: .ambient) {
            \(body)
                }
                Namespace("legacy", mode: .none) {
                    Pod("client", node: "node-a", app: .client)
                }
            """)
    }

    /// Inbound connections the destination ztunnel has opened so far in the policy lab.
    private func openCount() throws -> Int {
        try ztunnelLog("l4-policy", "node-b").filter { $0["event"] as? String == "opened" && $0["direction"] as? String == "inbound" }.count
    }

    func testKilledZTunnelFailsClosedAndRecoversAfterRestart() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let pid = try Harness.run("pgrep", ["-f", "meshlab ztunnel --lab ambient-basic --node node-b"]).stdout
        XCTAssertFalse(pid.isEmpty)
        try Harness.run("kill", ["-9", pid.trimmingCharacters(in: .whitespacesAndNewlines)])
        usleep(200_000)
        // Nothing reaches the captured pod while its ztunnel is gone: no bypass in plaintext.
        for from in ["ambient/sleep-a", "legacy/client"] {
            let failed = try Harness.calls(from: from, "http://10.244.1.3:8000/", ["--timeout", "2"], expect: 1)
            XCTAssertNotEqual(failed.first?.outcome, .ok, "\(from) reached echo-b with its ztunnel down")
            XCTAssertNil(failed.first?.reply)
        }
        try Harness.meshlab("ztunnel-restart", "node-b")
        XCTAssertEqual(try Harness.calls(from: "ambient/sleep-a", "http://10.244.1.3:8000/").first?.reply?.pod, "ambient/echo-b")
        XCTAssertEqual(try Harness.calls(from: "legacy/client", "http://10.244.1.3:8000/").first?.reply?.pod, "ambient/echo-b")
    }
}

extension ZTunnelEndToEndTests {
    func openFiles(_ node: String) throws -> Int {
        let pid = try Harness.run("pgrep", ["-f", "meshlab ztunnel --lab ambient-basic --node \(node)"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
    }

    func pooled(_ node: String) throws -> Int {
        try JSONDecoder().decode(ZTunnelDump.self, from: Data(Harness.meshlab("ztunnel-config", node).stdout.utf8)).pooledConnections
    }

    /// A server that reads none of an upload for a while: the receiving ztunnel stops reading the
    /// HBONE stream (its window closes, and the sending ztunnel stops reading the client), so neither
    /// holds more than a few windows. Before HTTP/2 frames reached NIOHTTP2 whole, the receiving
    /// ztunnel grew by 45 MB on a new HBONE connection and by 240 MB on one that had carried an
    /// upload before (measured after it: 22–37 MB in debug builds); three uploads in turn.
    func testAnUploadItsServerIsNotReadingHoldsTheClientBack() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let ztunnels = ["node-a", "node-b"].map { ("ztunnel \($0)", "meshlab ztunnel --lab ambient-basic --node \($0) ") }
        try Harness.assertHeldUploadHoldsTheClientBack(lab: "ambient-basic", from: "ambient/sleep-a", to: "ambient/echo-b", serverIP: "10.244.1.3",
                                                       mode: "tcp", watched: Dictionary(uniqueKeysWithValues: ztunnels), boundMB: 128, rounds: 3)
    }

    func testTenThousandConcurrentConnectionsArriveIntactAndReleaseTheirDescriptors() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        _ = try Harness.calls(from: "ambient/sleep-a", "tcp://10.244.1.3:9000")  // warm: one pooled HBONE connection
        let before = (a: try openFiles("node-a"), b: try openFiles("node-b"), pool: try pooled("node-a"))

        let output = try Harness.meshlab("exec", "ambient/sleep-a", "--", Harness.binary, "client", "tcp://10.244.1.3:9000",
                                         "-n", "10000", "--concurrency", "10000", "--payload", "1024", "--summary", "--timeout", "120")
        let summary = try JSONDecoder().decode(CallSummary.self, from: Data(output.stdout.utf8))
        XCTAssertEqual(summary.calls, 10000)
        XCTAssertEqual(summary.intact, 10000, "\(summary.outcomes)")

        // Every tunnel's descriptors are released; what stays is the pool (server ends on node-b).
        let grown = try pooled("node-a") - before.pool
        func settled(_ node: String, _ baseline: Int) throws -> Int {
            for _ in 0..<100 where try openFiles(node) != baseline + grown { usleep(50_000) }
            return try openFiles(node)
        }
        XCTAssertEqual(try settled("node-a", before.a), before.a + grown)
        XCTAssertEqual(try settled("node-b", before.b), before.b + grown)
    }
}

extension ZTunnelEndToEndTests {
    func testApplyAddsAndRemovesPodsWhileTheLabRuns() throws {
        try Harness.meshlab("up", "l4-policy")
        defer { _ = try? Harness.meshlab("down", "l4-policy", expect: nil) }
        let changed = try l4PolicyVariant("pods", ambient: """
            Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
            Pod("late", serviceAccount: "sleep", node: "node-b", app: .client)
            Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
            AuthorizationPolicy("allow-sleep", selector: ["app": "echo"]) {
                Rule(from: [.principals(["cluster.local/ns/ambient/sa/sleep"])])
            }
            """)
        let applied = try Harness.meshlab("apply", changed)
        XCTAssertTrue(applied.stderr.contains("added: ambient/late"), applied.stderr)
        XCTAssertTrue(applied.stderr.contains("removed: ambient/intruder"), applied.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/run/netns/l4-policy-ambient-intruder"))

        // The new pod is captured by its node's ztunnel at once and calls with its own identity.
        let dump = try JSONDecoder().decode(ZTunnelDump.self, from: Data(Harness.meshlab("ztunnel-config", "--lab", "l4-policy", "node-b").stdout.utf8))
        XCTAssertEqual(dump.capturedWorkloads, ["ambient/echo", "ambient/late"])
        let call = try Harness.calls(lab: "l4-policy", from: "ambient/late", "http://10.244.1.2:8000/")
        XCTAssertEqual(call.first?.reply?.pod, "ambient/echo")
        XCTAssertEqual(call.first?.reply?.sourceIP, "10.244.1.3")
        XCTAssertTrue(try ztunnelLog("l4-policy", "node-b").contains {
            $0["event"] as? String == "policy" && $0["src.addr"].map { "\($0)".hasPrefix("10.244.1.3:") } == true
                && $0["allowed"] as? Bool == true && $0["src.identity"] as? String == "spiffe://cluster.local/ns/ambient/sa/sleep"
        })
        let node = try JSONDecoder().decode(ZTunnelDump.self, from: Data(Harness.meshlab("ztunnel-config", "--lab", "l4-policy", "node-a").stdout.utf8))
        XCTAssertEqual(node.capturedWorkloads, ["ambient/sleep"], "the removed pod is released")
    }
}

extension ZTunnelEndToEndTests {
    /// A tunnel silent for longer than the pool's 20 s read deadline survives: PINGs every 10 s keep
    /// its HBONE connection alive (without them the connection, and the tunnel, would be dropped).
    func testSilentTunnelOutlivesTheIdleDeadlineThanksToPings() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let held = try Harness.calls(from: "ambient/sleep-a", "tcp://10.244.1.3:9000", ["--hold", "25", "--payload", "64"])
        XCTAssertEqual(held.first?.outcome, .ok)
        XCTAssertEqual(held.first?.echoIntact, true)
    }
}

extension ZTunnelEndToEndTests {
    /// A restart is a rollout: the new ztunnel serves new connections at once while the old one,
    /// no longer accepting, lets an open connection finish and then exits.
    func testRestartedZTunnelDrainsOpenConnectionsWhileItsSuccessorServesNewOnes() throws {
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let pids = { try Harness.run("pgrep", ["-f", "meshlab ztunnel --lab ambient-basic --node node-b"]).stdout.split(separator: "\n").map(String.init) }
        let old = try pids()
        XCTAssertEqual(old.count, 1)
        // A connection held open for 3 s across the restart.
        let held = Thread {
            _ = try? Harness.calls(from: "ambient/sleep-a", "tcp://10.244.1.3:9000", ["--hold", "3", "--payload", "1000"], expect: nil)
        }
        held.start()
        usleep(500_000)
        try Harness.meshlab("ztunnel-restart", "node-b")
        let during = try pids()
        XCTAssertEqual(during.count, 2, "the old ztunnel drains beside its successor: \(during)")
        let fresh = try Harness.calls(from: "ambient/sleep-a", "http://10.244.1.3:8000/")
        XCTAssertEqual(fresh.first?.reply?.pod, "ambient/echo-b")
        let log = try String(contentsOfFile: "/run/meshlab/ambient-basic/logs/ztunnel-node-b.log", encoding: .utf8)
        XCTAssertTrue(log.contains("\"id\":\"node-b-2.1\""), "the successor logs generation-2 ids")
        // Once the held connection has finished, the old one is gone.
        var waited = 0
        while try pids().count > 1 && waited < 100 { usleep(100_000); waited += 1 }
        XCTAssertEqual(try pids().count, 1)
        XCTAssertFalse(try pids().contains(old[0]))
        held.cancel()
    }
}
