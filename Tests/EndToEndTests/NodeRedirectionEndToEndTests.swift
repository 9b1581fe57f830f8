import Assertions
import Dataplane
import Foundation
import Labs
import MeshLab
import XCTest

/// Node-level redirection, iptables + Geneve (Istio 1.18) and eBPF (Istio 1.20):
/// the same traffic suite as in-pod, real Geneve between each node and its ztunnel, eBPF that fails
/// closed, live enrollment, and nothing left behind.
final class NodeRedirectionEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
    }

    /// One lab file per mode, the same checks: ambient ↔ ambient same node and cross node, ambient →
    /// out of the mesh, out of the mesh → ambient.
    private func suite(_ mode: String) -> String {
        // The older in-pod form's fast path is inbound: TPROXY takes the first packet, the ctstate rule the rest.
        let inboundFastPath = mode == "inpodTproxy" ? ", .fastPath(firstPackets: 1)" : ""
        return """
        import MeshLab

        let lab = Lab("suite-\(mode.lowercased())", settings: LabSettings(redirect: .\(mode))) {
            Node("node-a")
            Node("node-b")
            Namespace("mesh", mode: .ambient) {
                Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
                Pod("near", serviceAccount: "echo", node: "node-a", app: .echo(ports: [8000]))
                Pod("far", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
            }
            Namespace("legacy") {
                Pod("client", node: "node-a", app: .client)
                Pod("server", node: "node-b", app: .echo(ports: [8000]))
            }
            Namespace("l7", mode: .ambient, waypoint: "waypoint") {
                Waypoint("waypoint", node: "node-b")
                Pod("web", serviceAccount: "web", node: "node-a", app: .echo(ports: [8000]))
            }
            Namespace("injected", mode: .sidecar) {
                Pod("curl", serviceAccount: "curl", node: "node-b", app: .client)
                Pod("api", serviceAccount: "api", node: "node-b", app: .echo(ports: [8000]))
            }
            let echo = "spiffe://cluster.local/ns/mesh/sa/echo"
            Check("same node", from: "mesh/sleep", to: .pod("mesh/near", port: 8000), count: 2,
                  expect: [.ok, .reached("mesh/near"), .sourcePreserved(true), .allowed(at: "ztunnel node-a")])
            Check("cross node", from: "mesh/sleep", to: .pod("mesh/far", port: 8000), protocol: .tcp, count: 2, payload: 70000,
                  expect: [.ok, .reached("mesh/far"), .sourcePreserved(true), .mtls(client: "spiffe://cluster.local/ns/mesh/sa/sleep", server: echo),
                           .onlyHBONE(on: "underlay"), .fastPath(firstPackets: 1)])
            Check("out of the mesh", from: "mesh/sleep", to: .pod("legacy/server", port: 8000), expect: [.ok, .reached("legacy/server")])
            Check("through a waypoint", from: "mesh/sleep", to: .pod("l7/web", port: 8000),
                  expect: [.ok, .requestHeader("x-request-id"), .allowed(at: "waypoint l7/waypoint"), .mtls(client: "spiffe://cluster.local/ns/l7/sa/waypoint", server: nil)])
            Check("into the mesh", from: "legacy/client", to: .pod("mesh/far", port: 8000), protocol: .tcp, payload: 50000,
                  expect: [.ok, .plaintext, .sourcePreserved(true), .allowed(at: "ztunnel node-b")\(inboundFastPath)])
            Check("ambient to a sidecar", from: "mesh/sleep", to: .pod("injected/api", port: 8000),
                  expect: [.ok, .reached("injected/api"), .allowed(at: "sidecar injected/api")])
            Check("a sidecar to ambient", from: "injected/curl", to: .pod("mesh/near", port: 8000),
                  expect: [.ok, .reached("mesh/near"), .mtls(client: "spiffe://cluster.local/ns/injected/sa/curl", server: echo)])
            Check("a sidecar to a waypoint", from: "injected/curl", to: .pod("l7/web", port: 8000),
                  expect: [.ok, .requestHeader("x-request-id"), .allowed(at: "waypoint l7/waypoint")])
        }
        """
    }

    func testTheSameTrafficSuitePassesInEveryRedirectionMode() throws {
        let before = try Harness.rootNetworkSnapshot()
        for mode in ["inpod", "inpodTproxy", "iptables", "ebpf"] {
            let bundles = "/tmp/meshlab-suite-bundles-\(getpid())-\(mode)"
            defer { try? FileManager.default.removeItem(atPath: bundles) }
            let run = try Harness.meshlab(["test", try Harness.temporaryFile("suite-\(mode).swift", suite(mode)), "--bundle-dir", bundles])
            XCTAssertTrue(run.stdout.contains("8 passed, 0 failed"), "\(mode):\n\(run.stdout)\n\(run.stderr)\n\(Harness.bundleLogs(in: bundles))")
            XCTAssertEqual(try Harness.residue(of: "suite-\(mode.lowercased())"), [])
        }
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before, "the root netns is untouched")
        let programs = Set(BPFRedirector.loadedProgramNames())
        XCTAssertTrue(programs.isDisjoint(with: ["app_outbound", "app_inbound", "ztunnel_host_in", "ztunnel_tproxy"]), "programs left loaded: \(programs)")
    }

    func testEBPFFailsClosedWithoutZTunnelAndEnrollsPodsLive() throws {
        let lab = "ebpf-redirection"
        try Harness.meshlab("up", lab)
        defer { _ = try? Harness.meshlab("down", lab, expect: nil) }
        let programs = BPFRedirector.loadedProgramNames()
        for name in ["app_outbound", "app_inbound", "ztunnel_host_in", "ztunnel_tproxy"] {
            XCTAssertTrue(programs.contains(name), "\(name) loaded: \(programs)")
        }

        // With no ztunnel registered, a captured pod's traffic is dropped, not sent around ztunnel.
        let redirector = Naming.redirectorSocket(lab: lab, node: "node-a")
        let before = try XCTUnwrap(RedirectorControl.request(at: redirector).ebpf)
        _ = try RedirectorControl.request(RedirectorRequest(ztunnelRegistered: false), at: redirector)
        let dropped = try Harness.calls(lab: lab, from: "mesh/sleep", "http://10.244.1.2:8000/", ["--timeout", "1"], expect: 1)
        XCTAssertEqual(dropped.map(\.outcome), [.timeout])
        let after = try XCTUnwrap(RedirectorControl.request(RedirectorRequest(ztunnelRegistered: true), at: redirector).ebpf)
        XCTAssertGreaterThan(after["outbound_dropped"] ?? 0, before["outbound_dropped"] ?? 0)
        XCTAssertEqual(try Harness.calls(lab: lab, from: "mesh/sleep", "http://10.244.1.2:8000/").map(\.outcome), [.ok], "registered again, it flows")

        // A pod added to the running lab gets the programs on its veth and an app_info entry.
        let more = try withExtraPod(lab, namespace: "mesh")
        try Harness.meshlab("apply", more)
        let extra = try Harness.calls(lab: lab, from: "legacy/client", "http://10.244.1.4:7000/")
        XCTAssertEqual(extra.first?.reply?.pod, "mesh/extra")
        let log = try String(contentsOfFile: "/run/meshlab/\(lab)/logs/ztunnel-node-b.log", encoding: .utf8)
        XCTAssertTrue(log.contains("\"dst.workload\":\"extra\""), "the new pod's inbound traffic went through ztunnel")
        try Harness.meshlab("apply", lab)
        try Harness.meshlab("down", lab)
        XCTAssertEqual(try Harness.residue(of: lab), [])
    }

    func testGeneveOnTheWireDecodesWithItsVNIAndEnrollmentFollowsApply() throws {
        let before = try Harness.rootNetworkSnapshot()
        try Harness.meshlab("up", "node-iptables-geneve")
        var up = true
        defer { if up { _ = try? Harness.meshlab("down", "node-iptables-geneve", expect: nil) } }

        // What crosses UDP 6081 between node-a and its ztunnel is Geneve, as tcpdump's own dissector reads it.
        let file = "/tmp/meshlab-geneve-\(getpid()).pcap"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let capture = try PacketCapture.start(netns: "node-iptables-geneve-node-a", interface: "ztunnel0", file: file)
        let calls = try Harness.calls(lab: "node-iptables-geneve", from: "foo/sleep", "http://10.244.1.2:8000/")
        XCTAssertEqual(calls.map(\.outcome), [.ok])
        let packets = try capture.stop()
        XCTAssertTrue(packets.contains { $0.ipProtocol == 17 && $0.destinationPort == 6081 }, "\(packets)")
        let decoded = try Harness.run("tcpdump", ["-nn", "-v", "-r", file, "udp port 6081"]).stdout
        XCTAssertTrue(decoded.contains("Geneve") && decoded.contains("vni 0x3e9"), "VNI 1001 (istioout) expected:\n\(decoded.prefix(2000))")
        XCTAssertTrue(decoded.contains("10.244.0.2") && decoded.contains("10.244.1.2.8000"), "the inner frame is the pod's packet:\n\(decoded.prefix(2000))")

        // A pod added to the running lab is enrolled (ipset, route into istioin); removed, it is released.
        let lab = try withExtraPod("node-iptables-geneve", namespace: "foo")
        try Harness.meshlab("apply", lab)
        let ipset = { try Harness.run("ip", ["netns", "exec", "node-iptables-geneve-node-b", "ipset", "list", "ztunnel-pods-ips"]).stdout }
        let table = { try Harness.run("ip", ["netns", "exec", "node-iptables-geneve-node-b", "ip", "route", "show", "table", "100"]).stdout }
        let (enrolled, routes) = (try ipset(), try table())
        XCTAssertTrue(enrolled.contains("10.244.1.4"), enrolled)
        XCTAssertTrue(routes.contains("10.244.1.4 via 192.168.126.2 dev istioin"), routes)
        let extra = try Harness.calls(lab: "node-iptables-geneve", from: "legacy/client", "http://10.244.1.4:7000/")
        XCTAssertEqual(extra.first?.reply?.pod, "foo/extra")
        let log = try String(contentsOfFile: "/run/meshlab/node-iptables-geneve/logs/ztunnel-node-b.log", encoding: .utf8)
        XCTAssertTrue(log.contains("\"dst.workload\":\"extra\""), "the new pod's traffic went through ztunnel")

        try Harness.meshlab("apply", "node-iptables-geneve")
        let (released, left) = (try ipset(), try table())
        XCTAssertFalse(released.contains("10.244.1.4"), released)
        XCTAssertFalse(left.contains("10.244.1.4"), left)

        try Harness.meshlab("down", "node-iptables-geneve")
        up = false
        XCTAssertEqual(try Harness.residue(of: "node-iptables-geneve"), [])
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before, "the root netns is untouched")
    }

    /// A built-in lab with one more ambient pod (`extra`, echo on 7000, on node-b), as a LabSpec
    /// document `apply` takes.
    private func withExtraPod(_ name: String, namespace: String) throws -> String {
        var spec = try XCTUnwrap(LabCatalog.lab(named: name))
        let index = try XCTUnwrap(spec.namespaces.firstIndex { $0.name == namespace })
        spec.namespaces[index].pods.append(Pod("extra", serviceAccount: "extra", node: "node-b", app: .echo(ports: [7000])))
        return try Harness.temporaryFile("\(name)-extra.json", String(decoding: try JSONEncoder().encode(spec), as: UTF8.self))
    }
}
