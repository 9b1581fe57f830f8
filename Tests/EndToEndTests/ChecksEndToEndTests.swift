import Assertions
import Dataplane
import Foundation
import Labs
import MeshLab
import MeshLabRuntime
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `meshlab test` proves what labs claim: every expectation kind passes where it holds and fails,
/// with the right expected/actual, where it does not.
final class ChecksEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
    }

    struct Report: Decodable {
        struct Check: Decodable {
            struct Verdict: Decodable {
                var passed: Bool
                var expected: String
                var actual: String
            }
            var name: String
            var passed: Bool
            var verdicts: [Verdict]
        }
        var lab: String
        var checks: [Check]
    }

    func testBuiltInLabsPassTheirChecksAndJUnitIsValidXML() throws {
        let junit = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-junit-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: junit) }
        let bundles = "/tmp/meshlab-builtin-bundles-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: bundles) }
        let run = try Harness.meshlab("test", "--junit", junit.path, "--bundle-dir", bundles)
        XCTAssertTrue(run.stdout.contains(" passed, 0 failed"), run.stdout + "\n" + Harness.bundleLogs(in: bundles))
        let document = try XMLDocument(contentsOf: junit)
        let cases = try document.nodes(forXPath: "//testsuite/testcase")
        XCTAssertGreaterThanOrEqual(cases.count, 10)
        XCTAssertEqual(try document.nodes(forXPath: "//failure").count, 0)
        XCTAssertEqual(try document.nodes(forXPath: "//testsuite/@name").compactMap(\.stringValue).sorted(), LabCatalog.all.map(\.name).sorted())
        for lab in LabCatalog.all.map(\.name) {
            XCTAssertEqual(try Harness.residue(of: lab), [], "test brings \(lab) down")
        }
    }

    func testEveryExpectationKindPassesWhereItHoldsAndFailsWhereItDoesNot() throws {
        let sleep = "spiffe://cluster.local/ns/apps/sa/sleep"
        let lab = try Harness.twoNodeLabFile("selfcheck", """
                Namespace("apps", mode: .ambient) {
                    Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
                    Pod("echo-a", serviceAccount: "echo", labels: ["app": "echo"], node: "node-a", app: .echo(ports: [8000]))
                    Pod("echo-b", serviceAccount: "echo", labels: ["app": "echo"], node: "node-b", app: .echo(ports: [8000]))
                    Service("echo", ports: [.port(80, target: 8000)])
                    AuthorizationPolicy("deny-7000", action: .deny) { Rule(to: [.ports([7000])]) }
                }
                Namespace("outside") {
                    Pod("client", node: "node-a", app: .client)
                    Pod("web", node: "node-b", app: .echo(ports: [8000]))
                }
                let b = CallTarget.pod("apps/echo-b", port: 8000)
                Check("pass: ok", from: "apps/sleep", to: b, expect: [.ok])
                Check("fail: ok", from: "apps/sleep", to: .pod("apps/echo-b", port: 7777), protocol: .tcp, expect: [.ok])
                Check("pass: refused", from: "outside/client", to: .pod("outside/web", port: 9), protocol: .tcp, expect: [.refused])
                Check("fail: refused", from: "apps/sleep", to: b, expect: [.refused])
                Check("pass: status", from: "apps/sleep", to: b, expect: [.status(200)])
                Check("fail: status", from: "apps/sleep", to: b, expect: [.status(404)])
                Check("pass: reached", from: "apps/sleep", to: b, expect: [.reached("apps/echo-b")])
                Check("fail: reached", from: "apps/sleep", to: b, expect: [.reached("apps/echo-a")])
                Check("pass: spread", from: "apps/sleep", to: .service("apps/echo", port: 80), count: 4, expect: [.spreadOver(["apps/echo-a", "apps/echo-b"])])
                Check("fail: spread", from: "apps/sleep", to: b, count: 2, expect: [.spreadOver(["apps/echo-a", "apps/echo-b"])])
                Check("pass: source preserved", from: "apps/sleep", to: b, expect: [.sourcePreserved(true)])
                Check("fail: source preserved", from: "apps/sleep", to: b, expect: [.sourcePreserved(false)])
                Check("pass: mtls", from: "apps/sleep", to: b, expect: [.mtls(client: "\(sleep)", server: nil)])
                Check("fail: mtls", from: "apps/sleep", to: b, expect: [.mtls(client: "spiffe://cluster.local/ns/apps/sa/other", server: nil)])
                Check("pass: plaintext", from: "outside/client", to: b, expect: [.plaintext])
                Check("fail: plaintext", from: "apps/sleep", to: b, expect: [.plaintext])
                Check("pass: policy", from: "apps/sleep", to: .pod("apps/echo-b", port: 7000), protocol: .tcp,
                      expect: [.denied(by: "apps/deny-7000", reason: "explicitly denied", at: "ztunnel node-b")])
                Check("fail: policy hop", from: "apps/sleep", to: .pod("apps/echo-b", port: 7000), protocol: .tcp,
                      expect: [.denied(by: "apps/deny-7000", at: "ztunnel node-a")])
                Check("fail: policy", from: "apps/sleep", to: b, expect: [.denied(by: "apps/deny-7000")])
                Check("pass: path", from: "apps/sleep", to: b, expect: [.path([
                    "pod apps/sleep", "redirect 15001", "ztunnel node-a outbound", "HBONE", "ztunnel node-b inbound", "pod apps/echo-b"])])
                Check("fail: path", from: "outside/client", to: b, expect: [.path([
                    "pod outside/client", "redirect 15001", "ztunnel node-a outbound", "HBONE", "ztunnel node-b inbound", "pod apps/echo-b"])])
                let web = CallTarget.pod("outside/web", port: 8000)
                Check("pass: fast path", from: "apps/sleep", to: b, protocol: .tcp, count: 2, payload: 50_000, expect: [.fastPath(firstPackets: 1)])
                Check("fail: fast path", from: "outside/client", to: web, protocol: .tcp, expect: [.fastPath(firstPackets: 1)])
                Check("pass: hbone reuse", from: "apps/sleep", to: b, count: 3, expect: [.hbone(connections: 1, streams: 3)])
                Check("fail: hbone reuse", from: "apps/sleep", to: b, count: 3, expect: [.hbone(connections: 3, streams: 3)])
                Check("pass: only hbone", from: "apps/sleep", to: b, protocol: .tcp, expect: [.onlyHBONE(on: "underlay")])
                Check("fail: only hbone", from: "outside/client", to: web, protocol: .tcp, expect: [.onlyHBONE(on: "underlay")])
                Check("pass: never in plaintext", from: "apps/sleep", to: b, protocol: .tcp, expect: [.neverInPlaintext(on: "node-b")])
                Check("fail: never in plaintext", from: "outside/client", to: web, protocol: .tcp, expect: [.neverInPlaintext(on: "underlay")])
                Check("pass: held across an unrelated push", from: "apps/sleep", to: b, protocol: .tcp, count: 2,
                      during: .addPolicy(namespace: "apps", AuthorizationPolicy("deny-7001", action: .deny) { Rule(to: [.ports([7001])]) }),
                      expect: [.ok])
                Check("pass: held across a policy removal", from: "apps/sleep", to: b, protocol: .tcp, during: .removePolicy("apps/deny-7000"),
                      expect: [.ok])
                Check("fail: held across a denying push", from: "apps/sleep", to: b, protocol: .tcp,
                      during: .addPolicy(namespace: "apps", AuthorizationPolicy("deny-all", action: .deny) { Rule() }), expect: [.ok])
                Check("pass: held connections outlive a ztunnel restart (drain)", from: "apps/sleep", to: b, protocol: .tcp, count: 2,
                      during: .ztunnelRestart(node: "node-b"), expect: [.ok])
                Check("pass: split", from: "apps/sleep", to: .service("apps/echo", port: 80), count: 4, expect: [.split(["apps/echo-a": 2, "apps/echo-b": 2])])
                Check("fail: split", from: "apps/sleep", to: b, count: 2, expect: [.split(["apps/echo-a": 1, "apps/echo-b": 1])])
                Check("pass: statuses", from: "apps/sleep", to: b, request: .get("/status/503"), count: 2, expect: [.statuses([503: 2])])
                Check("fail: statuses", from: "apps/sleep", to: b, count: 2, expect: [.statuses([200: 1, 503: 1])])
                Check("pass: took at least", from: "apps/sleep", to: b, request: .get("/delay/0.2"), expect: [.tookAtLeast(milliseconds: 200)])
                Check("fail: took at least", from: "apps/sleep", to: b, expect: [.tookAtLeast(milliseconds: 2000)])
                Check("pass: not", from: "apps/sleep", to: b, expect: [.not(.requestHeader("x-request-id"))])
                Check("fail: request header", from: "apps/sleep", to: b, expect: [.requestHeader("x-request-id")])
                Check("pass: any", from: "apps/sleep", to: b, expect: [.any([.refused, .ok])])
                Check("fail: all", from: "apps/sleep", to: b, expect: [.all([.ok, .refused])])
            """)
        let junit = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-selfcheck-\(getpid()).xml")
        defer { try? FileManager.default.removeItem(at: junit) }
        let bundles = "/tmp/meshlab-selfcheck-bundles-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: bundles) }
        let run = try Harness.meshlab(["test", lab, "--json", "--junit", junit.path, "--bundle-dir", bundles], expect: 1)
        let report = try XCTUnwrap(JSONDecoder().decode([Report].self, from: Data(run.stdout.utf8)).first)
        XCTAssertEqual(report.checks.count, 43)
        for check in report.checks {
            XCTAssertEqual(check.passed, check.name.hasPrefix("pass:"), "\(check.name): \(check.verdicts)")
        }
        func failure(_ name: String) -> Report.Check.Verdict? { report.checks.first { $0.name == name }?.verdicts.first { !$0.passed } }
        XCTAssertEqual(failure("fail: reached")?.expected, "every call answered by apps/echo-a")
        XCTAssertEqual(failure("fail: reached")?.actual, "apps/echo-b")
        XCTAssertEqual(failure("fail: status")?.actual, "200")
        XCTAssertEqual(failure("fail: spread")?.actual, "never answered: apps/echo-a")
        XCTAssertEqual(failure("fail: source preserved")?.actual, "servers saw 10.244.0.2")
        XCTAssertEqual(failure("fail: mtls")?.actual, "\(sleep) → spiffe://cluster.local/ns/apps/sa/echo")
        XCTAssertEqual(failure("fail: plaintext")?.actual, "identities \(sleep)")
        XCTAssertEqual(failure("fail: policy")?.actual, "allowed by -: no allow policies")
        XCTAssertEqual(failure("fail: refused")?.actual, "ok")
        XCTAssertEqual(failure("fail: path")?.actual, "pod outside/client → redirect 15006 → ztunnel node-b inbound → pod apps/echo-b")
        // Nothing in that pod uses conntrack, so the kernel tracks nothing there.
        XCTAssertTrue(failure("fail: fast path")?.actual.hasPrefix("1 connection(s), 0 in conntrack (0 NATed to ztunnel 15001)") == true,
                      "\(String(describing: failure("fail: fast path")))")
        XCTAssertTrue(failure("fail: fast path")?.actual.contains(", 0 through the redirect rule") == true)
        XCTAssertTrue(failure("fail: policy hop")?.actual.hasSuffix(" at ztunnel node-b") == true, "\(String(describing: failure("fail: policy hop")))")
        XCTAssertEqual(failure("fail: request header")?.actual, "1 of 1 without it")
        XCTAssertEqual(failure("fail: split")?.actual, "answered by apps/echo-b 2")
        XCTAssertEqual(failure("fail: statuses")?.actual, "2× 200")
        XCTAssertTrue(failure("fail: took at least")?.actual.hasPrefix("the fastest took ") == true)
        XCTAssertEqual(failure("fail: hbone reuse")?.actual, "3 stream(s) over 1 HBONE connection(s)")
        XCTAssertTrue(failure("fail: only hbone")?.actual.contains("non-HBONE packet(s) besides 0 HBONE: tcp 10.244.0.") == true,
                      "\(String(describing: failure("fail: only hbone")))")
        XCTAssertTrue(failure("fail: never in plaintext")?.actual.hasPrefix("in plaintext in ") == true,
                      "\(String(describing: failure("fail: never in plaintext")))")
        XCTAssertEqual(failure("fail: held across a denying push")?.actual, "1 failed: reset")
        let written = try FileManager.default.contentsOfDirectory(atPath: bundles)
        XCTAssertEqual(written.filter { $0.hasSuffix(".tar.gz") }.count, 1, "a failing run writes one evidence bundle")

        let document = try XMLDocument(contentsOf: junit)
        XCTAssertEqual(try document.nodes(forXPath: "//testcase").count, 43)
        XCTAssertEqual(try document.nodes(forXPath: "//failure").count, 21)
        XCTAssertEqual(try document.nodes(forXPath: "//testcase[@name='fail: reached']/failure/@message").first?.stringValue,
                       "expected every call answered by apps/echo-a, got apps/echo-b")
        XCTAssertEqual(try Harness.residue(of: "selfcheck"), [], "a failed run still brings the lab down without --keep")
    }
}

/// A waypoint's L7 policies are live config: `apply` changes what it lets through, for the next request.
final class WaypointEndToEndTests: XCTestCase {
    func testAppliedL7PolicyTakesEffectForTheNextRequest() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-l7")
        defer { _ = try? Harness.meshlab("down", "waypoint-l7", expect: nil) }
        let get = { try Harness.calls(lab: "waypoint-l7", from: "shop/sleep", "http://10.96.0.1:8000/") }
        XCTAssertEqual(try get().first?.status, 200)
        // The same lab plus an ALLOW for HEAD alone, applied as a LabSpec document.
        var spec = try XCTUnwrap(LabCatalog.lab(named: "waypoint-l7"))
        let shop = try XCTUnwrap(spec.namespaces.firstIndex { $0.name == "shop" })
        spec.namespaces[shop].policies.append(AuthorizationPolicy("only-head", action: .allow, waypoint: "waypoint") { Rule(to: [.methods(["HEAD"])]) })
        let lab = try Harness.temporaryFile("waypoint-l7-only-head.json", String(decoding: try JSONEncoder().encode(spec), as: UTF8.self))
        try Harness.meshlab("apply", lab)
        XCTAssertEqual(try get().first?.status, 403, "an ALLOW policy for HEAD alone now leaves GET unmatched")
        let log = try String(contentsOfFile: "/run/meshlab/waypoint-l7/logs/waypoint-shop-waypoint.log", encoding: .utf8)
        XCTAssertTrue(log.contains("allow policies exist, but none allowed"), "the waypoint says why")
        try Harness.meshlab("apply", "waypoint-l7")
        XCTAssertEqual(try get().first?.status, 200)
        try Harness.meshlab("down", "waypoint-l7")
        XCTAssertEqual(try Harness.residue(of: "waypoint-l7"), [])
    }

    /// The reviews service's VIP in waypoint-l7, and who answered calls to it.
    private let reviews = "10.96.0.2:9080"
    private func answeredBy(_ path: String = "/", count: Int, _ extra: [String] = []) throws -> [String] {
        try Harness.calls(lab: "waypoint-l7", from: "shop/sleep", "http://\(reviews)\(path)", ["-n", String(count)] + extra).map { $0.reply?.pod ?? "-" }
    }

    func testAppliedRouteTakesEffectForTheNextRequest() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-l7")
        defer { _ = try? Harness.meshlab("down", "waypoint-l7", expect: nil) }
        XCTAssertEqual(Set(try answeredBy(count: 4)), ["shop/reviews-v1", "shop/reviews-v2"])
        // The same lab with the weighted rule sending everything to v2.
        var spec = try XCTUnwrap(LabCatalog.lab(named: "waypoint-l7"))
        let shop = try XCTUnwrap(spec.namespaces.firstIndex { $0.name == "shop" })
        let last = spec.namespaces[shop].routes[0].rules.count - 1
        spec.namespaces[shop].routes[0].rules[last].backends = [.service("reviews-v2")]
        try Harness.meshlab("apply", try Harness.temporaryFile("waypoint-l7-v2.json", String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)))
        XCTAssertEqual(try answeredBy(count: 4), Array(repeating: "shop/reviews-v2", count: 4))
        try Harness.meshlab("apply", "waypoint-l7")
        XCTAssertEqual(Set(try answeredBy(count: 4)), ["shop/reviews-v1", "shop/reviews-v2"])
    }

    func testHTTP2InIsHTTP2OutAndHTTP1StaysHTTP1() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-l7")
        defer { _ = try? Harness.meshlab("down", "waypoint-l7", expect: nil) }
        let h2 = try Harness.calls(lab: "waypoint-l7", from: "shop/sleep", "h2://\(reviews)/", ["-n", "2"])
        XCTAssertEqual(h2.map { $0.reply?.protocol }, ["h2c", "h2c"], "the waypoint speaks HTTP/2 to the destination when its client does")
        XCTAssertTrue(h2.allSatisfy { $0.reply?.headers?["x-request-id"] != nil })
        // An HTTP/2 stream closes as the answer's last frame goes out: answered, not a client disconnect (DC).
        let log = try String(contentsOfFile: "/run/meshlab/waypoint-l7/logs/waypoint-shop-waypoint.log", encoding: .utf8)
        let lines = log.split(separator: "\n").filter { $0.contains("\"event\":\"request\"") }
        XCTAssertEqual(lines.count, 2, log)
        XCTAssertTrue(lines.allSatisfy { $0.contains("\"response_flags\":\"-\"") && $0.contains("\"status\":200") }, log)
        // python-h2 sends the preface and 100 streams (NIO's limit until our SETTINGS are acknowledged)
        // in its first write: all answered through the namespace waypoint (httpbin), and the pooled
        // HBONE connections carry the next call too.
        let streams = try Harness.concurrentStreams(lab: "waypoint-l7", from: "shop/sleep", to: "10.96.0.1:8000", count: 100)
        XCTAssertEqual(streams.map(\.status), Array(repeating: "200", count: 100))
        let h1 = try Harness.calls(lab: "waypoint-l7", from: "shop/sleep", "http://\(reviews)/")
        XCTAssertEqual(h1.first?.reply?.protocol, "HTTP/1.1")
        // A request body that streams both ways (gRPC's bidirectional streams, chunked uploads): each
        // part comes back through the waypoint before the client sends the next.
        for protocolName in ["h2", "http1"] {
            let streamed = try Harness.bidiStream(lab: "waypoint-l7", from: "shop/sleep", to: "10.96.0.1:8000", protocolName, parts: 3)
            XCTAssertEqual(streamed.status, "200")
            XCTAssertEqual(streamed.received, ["part-1", "part-2", "part-3"], protocolName)
        }
        try Harness.assertClientsThatLeaveAreLogged(lab: "waypoint-l7", from: "shop/sleep", to: "10.96.0.1:8000", proxyLog: "waypoint-shop-waypoint")
        try Harness.assertWebSocketPasses(lab: "waypoint-l7", from: "shop/sleep", to: "10.96.0.1:8000", reaching: "shop/httpbin", proxyLog: "waypoint-shop-waypoint")
        try Harness.assertSlowReaderHoldsTheServerBack(lab: "waypoint-l7", from: "shop/sleep", to: "10.96.0.1:8000", proxy: "waypoint")
        // And the other way: an upload its server does not read stops being read from the client
        // (without that, the waypoint grew by 0.8–1 GB; with it, 22–33 MB).
        try Harness.assertHeldUploadHoldsTheClientBack(lab: "waypoint-l7", from: "shop/sleep", to: "shop/httpbin", serverIP: "10.244.1.3", mode: "http",
                                                       watched: ["waypoint": "meshlab waypoint --lab waypoint-l7 --pod shop/waypoint "], boundMB: 256)
    }


    func testTheWaypointAnswersExpectContinueItself() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-l7")
        defer { _ = try? Harness.meshlab("down", "waypoint-l7", expect: nil) }
        // curl asks before sending a large body (and would otherwise wait a second for the answer).
        let body = try Harness.temporaryFile("upload.txt", String(repeating: "x", count: 2 << 20))
        let curl = ["curl", "-sv", "--http1.1", "-X", "PUT", "--data-binary", "@" + body, "http://10.96.0.1:8000/upload"]
        let output = try Harness.meshlab(["exec", "--lab", "waypoint-l7", "shop/sleep", "--"] + curl)
        XCTAssertTrue(output.stderr.contains("> Expect: 100-continue"), output.stderr)
        XCTAssertTrue(output.stderr.contains("< HTTP/1.1 100 Continue"), output.stderr)
        let reply = try JSONDecoder().decode(EchoReply.self, from: Data(output.stdout.utf8))
        XCTAssertEqual(reply.headers?["content-length"], String(2 << 20), "the whole body went upstream")
        XCTAssertNil(reply.headers?["expect"], "the question was answered here, not passed on")
        // Without a waypoint (plain/echo is L4 only) the echo server answers it, as httpbin's does.
        let direct = try Harness.meshlab(["exec", "--lab", "waypoint-l7", "shop/sleep", "--"] + curl.dropLast() + ["http://10.244.1.5:8000/upload"])
        XCTAssertTrue(direct.stderr.contains("< HTTP/1.1 100 Continue"), direct.stderr)
        let echoed = try JSONDecoder().decode(EchoReply.self, from: Data(direct.stdout.utf8))
        XCTAssertEqual(echoed.headers?["expect"], "100-continue", "the question reached the echo server")
    }

    func testRetriesAreLoggedAndRequestsCountedInIstioRequestsTotal() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-l7")
        defer { _ = try? Harness.meshlab("down", "waypoint-l7", expect: nil) }
        let failed = try Harness.calls(lab: "waypoint-l7", from: "shop/sleep", "http://\(reviews)/status/503", expect: nil)
        XCTAssertEqual(failed.first?.status, 503, "the last attempt's answer goes back")
        let log = try String(contentsOfFile: "/run/meshlab/waypoint-l7/logs/waypoint-shop-waypoint.log", encoding: .utf8)
        let line = try XCTUnwrap(log.split(separator: "\n").last { $0.contains("\"path\":\"/status/503\"") && $0.contains("\"request\"") })
        XCTAssertTrue(line.contains("\"attempts\":3"), "one try and the rule's 2 retries: \(line)")
        XCTAssertTrue(line.contains("\"route\":\"shop/reviews#4\""), "\(line)")
        XCTAssertEqual(try answeredBy(count: 4).count, 4)
        let metrics = try Harness.meshlab("exec", "--lab", "waypoint-l7", "shop/waypoint", "--", "curl", "-s", "http://127.0.0.1:15020/metrics").stdout
        let requests = metrics.split(separator: "\n").filter { $0.hasPrefix("istio_requests_total{") }
        XCTAssertTrue(requests.contains { $0.contains("destination_service=\"reviews.shop.svc.cluster.local\"") && $0.contains("response_code=\"503\"")
                                          && $0.contains("source_principal=\"spiffe://cluster.local/ns/shop/sa/sleep\"") && $0.contains("source_workload=\"sleep\"") },
                      metrics)
        let answered = requests.filter { $0.contains("response_code=\"200\"") }.compactMap { Int($0.split(separator: " ").last ?? "") }
        XCTAssertEqual(answered.reduce(0, +), 4, "each answered request counted once, by destination workload: \(metrics)")
    }
}

/// A waypoint behind ztunnel gets each connection with a PROXY protocol v2 header: seen on the wire
/// inside the waypoint's pod, from ztunnel to the waypoint's 15088.
final class WaypointProxyProtocolEndToEndTests: XCTestCase {
    func testZTunnelWritesTheCallersAddressAndIdentityBeforeTheRequest() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "waypoint-proxy-protocol")
        defer { _ = try? Harness.meshlab("down", "waypoint-proxy-protocol", expect: nil) }
        let file = "/tmp/meshlab-proxy-protocol-\(getpid()).pcap"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let capture = try PacketCapture.start(netns: "waypoint-proxy-protocol-shop-waypoint", interface: "lo", file: file)
        // The httpbin service's VIP.
        let calls = try Harness.calls(lab: "waypoint-proxy-protocol", from: "shop/sleep", "http://10.96.0.1:8000/")
        XCTAssertEqual(calls.map(\.status), [200])
        let toWaypoint = try capture.stop().filter { $0.isTCP && $0.destinationPort == 15088 && !$0.payload.isEmpty }
        let first = try XCTUnwrap(toWaypoint.first, "nothing reached the waypoint's 15088")
        XCTAssertEqual(Array(first.payload.prefix(13)), [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21],
                       "the connection opens with a PROXY v2 header")
        let sleep = Array("spiffe://cluster.local/ns/shop/sa/sleep".utf8)
        XCTAssertEqual(Array(first.payload[16..<20]), [10, 244, 0, 2], "the caller's address (sleep)")
        XCTAssertEqual(Array(first.payload[20..<24]), [10, 96, 0, 1], "what it asked for: the service VIP…")
        XCTAssertEqual(Array(first.payload[26..<28]), [0x1F, 0x40], "…and port 8000")
        XCTAssertEqual(Array(first.payload[28..<31]), [0xD0, 0, UInt8(sleep.count)])
        XCTAssertEqual(Array(first.payload[31..<(31 + sleep.count)]), sleep, "the caller's SPIFFE identity in TLV 0xD0")
        XCTAssertTrue(toWaypoint.contains { String(decoding: $0.payload, as: UTF8.self).contains("GET / HTTP/1.1") }, "then the request itself")
    }
}

/// A failed run hands over everything in one file, and that file brings the same failure back.
final class EvidenceBundleEndToEndTests: XCTestCase {
    func testAFailingRunsBundleHoldsTheEvidenceAndReplaysToTheSameFailure() throws {
        try Harness.requireRoot()
        let lab = try Harness.twoNodeLabFile("bugreport", """
                Namespace("apps", mode: .ambient) {
                    Pod("sleep", node: "node-a", app: .client)
                    Pod("echo", node: "node-b", app: .echo(ports: [8000]))
                }
                Namespace("legacy") {
                    Pod("client", node: "node-a", app: .client)
                }
                Check("mesh traffic is only HBONE", from: "apps/sleep", to: .pod("apps/echo", port: 8000), protocol: .tcp,
                      expect: [.ok, .onlyHBONE(on: "underlay")])
                Check("legacy traffic is only HBONE too", from: "legacy/client", to: .pod("apps/echo", port: 8000), protocol: .tcp,
                      expect: [.ok, .onlyHBONE(on: "underlay")])
            """)
        let folder = "/tmp/meshlab-bundles-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let run = try Harness.meshlab(["test", lab, "--json", "--bundle-dir", folder], expect: 1)
        let report = try XCTUnwrap(JSONDecoder().decode([ChecksEndToEndTests.Report].self, from: Data(run.stdout.utf8)).first)
        XCTAssertEqual(report.checks.map(\.passed), [true, false])
        XCTAssertEqual(try Harness.residue(of: "bugreport"), [])

        let name = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".tar.gz") })
        let bundle = "\(folder)/\(name)"
        let unpacked = "\(folder)/unpacked"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        XCTAssertEqual(try Harness.run("/usr/bin/tar", ["-xzf", bundle, "-C", unpacked]).status, 0)
        let files = try XCTUnwrap(FileManager.default.subpathsOfDirectory(atPath: unpacked)).sorted()
        for expected in ["lab.swift", "spec.json", "report.json", "topology.json", "plan.json", "README.txt", "logs/ztunnel-node-a.log",
                         "rules/bugreport-apps-sleep.txt", "conntrack/bugreport-apps-sleep.txt", "net/bugreport-node-a.txt"] {
            XCTAssertTrue(files.contains(expected), "\(expected) missing from the bundle: \(files)")
        }
        XCTAssertTrue(try String(contentsOfFile: "\(unpacked)/rules/bugreport-apps-sleep.txt", encoding: .utf8).contains("REDIRECT --to-ports 15001"))
        XCTAssertTrue(try String(contentsOfFile: "\(unpacked)/conntrack/bugreport-apps-sleep.txt", encoding: .utf8)
            .contains("→ 10.244.1.2:8000, replies from 127.0.0.1:15001 (NAT)"))
        // The capture that shows the plaintext is a pcap file an independent reader (tcpdump) decodes.
        let pcap = try XCTUnwrap(files.first { $0.hasPrefix("captures/legacy-traffic") && $0.hasSuffix(".pcap") })
        let decoded = try Harness.run("/usr/bin/tcpdump", ["-nn", "-r", "\(unpacked)/\(pcap)", "tcp port 8000"])
        XCTAssertTrue(decoded.stdout.contains("10.244.0.3.") && decoded.stdout.contains("> 10.244.1.2.8000"), decoded.stdout + decoded.stderr)

        let replay = try Harness.meshlab(["replay", bundle, "--json"], expect: 1)
        let replayed = try XCTUnwrap(JSONDecoder().decode([ChecksEndToEndTests.Report].self, from: Data(replay.stdout.utf8)).first)
        XCTAssertEqual(replayed.checks.map(\.passed), [true, false])
        XCTAssertEqual(replayed.checks[1].verdicts.map(\.expected), report.checks[1].verdicts.map(\.expected))
        XCTAssertTrue(replay.stderr.contains("reproduced: the same 1 check(s) fail as in the bundle: legacy traffic is only HBONE too"), replay.stderr)
        XCTAssertEqual(try Harness.residue(of: "bugreport"), [])
    }
}

/// A project keeps labs as regression tests: a lab and its checks run from `swift test`, in process.
final class LabsAsRegressionTests: XCTestCase {
    func testPolicyLabHoldsAsARegressionTest() throws {
        try Harness.requireRoot()
        let report = try LabTesting.run(try XCTUnwrap(LabCatalog.lab(named: "l4-policy")))
        XCTAssertTrue(report.passed, report.failures)
        XCTAssertEqual(report.checks.map(\.name), [
            "sleep is allowed, by allow-sleep", "intruder is refused: no allow policy matches",
            "plaintext has no identity, so it is refused",
        ])
        XCTAssertEqual(try Harness.residue(of: "l4-policy"), [])
    }
}

/// `meshlab trace`: one call, its hops, and the kernel rule and ztunnel events behind each.
final class TraceEndToEndTests: XCTestCase {
    func testTraceShowsCaptureHBONEAndPolicyHopByHop() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        let mesh = try Harness.meshlab("trace", "ambient/sleep-a", "ambient/echo-b:8000").stdout.split(separator: "\n").map(String.init)
        guard mesh.count == 6 else { return XCTFail("expected 6 hops:\n\(mesh.joined(separator: "\n"))") }
        XCTAssertTrue(mesh[1].hasPrefix("2. redirect 15001: ambient-basic-ambient-sleep-a: nat -A ISTIO_OUTPUT")
                      && mesh[1].contains("REDIRECT --to-ports 15001 [1 packet(s)]"), mesh[1])
        XCTAssertTrue(mesh[2].hasPrefix("3. ztunnel node-a outbound: "), mesh[2])
        XCTAssertTrue(mesh[3].hasPrefix("4. HBONE: ") && mesh[3].contains("to 10.244.1.3:15008, expecting spiffe://cluster.local/ns/ambient/sa/echo"), mesh[3])
        XCTAssertTrue(mesh[4].hasPrefix("5. ztunnel node-b inbound: ") && mesh[4].contains("over HBONE as spiffe://cluster.local/ns/ambient/sa/sleep: allowed"), mesh[4])
        XCTAssertTrue(mesh[5].hasPrefix("6. pod ambient/echo-b: answered"), mesh[5])

        let plain = try Harness.meshlab("trace", "legacy/client", "ambient/echo-b:8000").stdout
        XCTAssertTrue(plain.contains("2. redirect 15006: ambient-basic-ambient-echo-b: nat -A ISTIO_PRERT"), plain)
        XCTAssertTrue(plain.contains("3. ztunnel node-b inbound: ") && plain.contains("in plaintext (no identity): allowed"), plain)
        XCTAssertFalse(plain.contains("HBONE"), plain)
    }
}

/// Sidecars are L7 proxies too: one request, one id, seen by both sidecars' logs and counted by each
/// (reporter source and destination); their namespace's L7 policies are live config.
final class SidecarEndToEndTests: XCTestCase {
    func testBothSidecarsLogAndCountTheRequestAndAnAppliedL7PolicyTakesEffect() throws {
        try Harness.requireRoot()
        try Harness.meshlab("up", "sidecar-l7")
        defer { _ = try? Harness.meshlab("down", "sidecar-l7", expect: nil) }
        // reviews-v1's VIP (the second service of the lab).
        let get = { try Harness.calls(lab: "sidecar-l7", from: "bar/sleep", "http://10.96.0.2:9080/", expect: nil) }
        let call = try XCTUnwrap(try get().first)
        XCTAssertEqual(call.status, 200)
        let id = try XCTUnwrap(call.reply?.headers?.first { $0.key.lowercased() == "x-request-id" }?.value, "the client's sidecar adds one")
        let logs = "/run/meshlab/sidecar-l7/logs/"
        let client = try String(contentsOfFile: logs + "sidecar-bar-sleep.log", encoding: .utf8)
        let server = try String(contentsOfFile: logs + "sidecar-bar-reviews-v1.log", encoding: .utf8)
        XCTAssertTrue(client.split(separator: "\n").contains { $0.contains(id) && $0.contains("\"outbound\"") && $0.contains("\"request\"") }, client)
        XCTAssertTrue(server.split(separator: "\n").contains { $0.contains(id) && $0.contains("\"request\"") && $0.contains("\"allowed\":true") }, server)

        let metrics = { (pod: String) in
            try Harness.meshlab("exec", "--lab", "sidecar-l7", pod, "--", "curl", "-s", "http://127.0.0.1:15020/metrics").stdout
                .split(separator: "\n").filter { $0.hasPrefix("istio_requests_total{") }
        }
        XCTAssertTrue(try metrics("bar/sleep").contains { $0.contains("reporter=\"source\"") && $0.contains("destination_workload=\"reviews-v1\"")
                                                          && $0.contains("response_code=\"200\"") })
        XCTAssertTrue(try metrics("bar/reviews-v1").contains { $0.contains("reporter=\"destination\"") && $0.contains("source_workload=\"sleep\"")
                                                               && $0.contains("response_code=\"200\"") })

        // HTTP/2 in, HTTP/2 out: through both sidecars (over HBONE between them) to the app.
        let h2 = try Harness.calls(lab: "sidecar-l7", from: "bar/sleep", "h2://10.96.0.2:9080/")
        XCTAssertEqual(h2.first?.reply?.protocol, "h2c")
        XCTAssertEqual(h2.first?.reply?.pod, "bar/reviews-v1")
        XCTAssertEqual(try Harness.concurrentStreams(lab: "sidecar-l7", from: "bar/sleep", to: "10.96.0.2:9080", count: 100).map(\.status),
                       Array(repeating: "200", count: 100), "streams sent with the preface in one write, sidecar to sidecar over HBONE")
        for protocolName in ["h2", "http1"] {
            XCTAssertEqual(try Harness.bidiStream(lab: "sidecar-l7", from: "bar/sleep", to: "10.96.0.2:9080", protocolName, parts: 3).received,
                           ["part-1", "part-2", "part-3"], "a streamed body through both sidecars (\(protocolName))")
        }
        try Harness.assertClientsThatLeaveAreLogged(lab: "sidecar-l7", from: "bar/sleep", to: "10.96.0.2:9080", proxyLog: "sidecar-bar-sleep")
        try Harness.assertWebSocketPasses(lab: "sidecar-l7", from: "bar/sleep", to: "10.96.0.2:9080", reaching: "bar/reviews-", proxyLog: "sidecar-bar-sleep")

        // The same lab with GET denied in bar, applied live.
        var spec = try XCTUnwrap(LabCatalog.lab(named: "sidecar-l7"))
        let bar = try XCTUnwrap(spec.namespaces.firstIndex { $0.name == "bar" })
        spec.namespaces[bar].policies.append(AuthorizationPolicy("no-get", action: .deny) { Rule(to: [.methods(["GET"])]) })
        try Harness.meshlab("apply", try Harness.temporaryFile("sidecar-l7-no-get.json", String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)))
        XCTAssertEqual(try get().first?.status, 403)
        // A WebSocket handshake (a GET) is refused too, and the connection ends with the answer.
        XCTAssertEqual(try Harness.webSocket(lab: "sidecar-l7", from: "bar/sleep", to: "10.96.0.2:9080").status, 403)
        try Harness.meshlab("apply", "sidecar-l7")
        XCTAssertEqual(try get().first?.status, 200)
    }
}
