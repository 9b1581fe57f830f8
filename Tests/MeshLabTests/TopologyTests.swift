import MeshLab
import XCTest

final class TopologyTests: XCTestCase {
    func testCIDRArithmetic() throws {
        let block = try XCTUnwrap(CIDR("10.244.0.0/16"))
        XCTAssertEqual(block.subnet(3, length: 24)?.description, "10.244.3.0/24")
        XCTAssertNil(block.subnet(256, length: 24))
        XCTAssertEqual(block.host(1).description, "10.244.0.1")
        XCTAssertEqual(CIDR("10.1.2.3/8")?.description, "10.0.0.0/8")
        XCTAssertTrue(block.overlaps(try XCTUnwrap(CIDR("10.0.0.0/8"))))
        XCTAssertFalse(block.overlaps(try XCTUnwrap(CIDR("10.96.0.0/16"))))
        XCTAssertNil(CIDR("10.0.0.0/33"))
        XCTAssertNil(IPv4("1.2.3"))
        XCTAssertNil(IPv4("1.2.3.256"))
    }

    func testAddressesAndScheduling() throws {
        let topology = try Topology(Lab("t") {
            Node("a"); Node("b")
            Namespace("x") {
                Pod("p0"); Pod("p1"); Pod("p2", node: "b"); Pod("p3")
            }
        })
        XCTAssertEqual(topology.nodes.map(\.underlayIP.description), ["172.30.0.1", "172.30.0.2"])
        XCTAssertEqual(topology.nodes.map(\.podCIDR.description), ["10.244.0.0/24", "10.244.1.0/24"])
        XCTAssertEqual(topology.nodes.map(\.gateway.description), ["10.244.0.1", "10.244.1.1"])
        // Unpinned pods go round-robin by declaration index; pinned ones stay put.
        XCTAssertEqual(topology.pods.map(\.node), ["a", "b", "b", "b"])
        XCTAssertEqual(topology.pods.map(\.ip.description), ["10.244.0.2", "10.244.1.2", "10.244.1.3", "10.244.1.4"])
        XCTAssertEqual(topology.pods.map(\.netns), ["t-x-p0", "t-x-p1", "t-x-p2", "t-x-p3"])
        XCTAssertEqual(topology.pods.map(\.hostVeth), ["veth0", "veth1", "veth2", "veth3"])
    }

    func testServiceEndpointsFollowSelector() throws {
        let topology = try Topology(Lab("t") {
            Node("a")
            Namespace("x") {
                Pod("e1", labels: ["app": "echo"], app: .echo(ports: [8000]))
                Pod("e2", labels: ["app": "echo"], app: .echo(ports: [8000]))
                Pod("other", app: .echo(ports: [8000]))
                Service("echo", ports: [.port(80, target: 8000)])
            }
        })
        XCTAssertEqual(topology.services[0].endpoints, ["x/e1", "x/e2"])
        XCTAssertEqual(topology.services[0].vip.description, "10.96.0.1")
        XCTAssertEqual(topology.services[0].hostname, "echo.x.svc.cluster.local")
    }

    func testTopologyRoundTripsThroughJSON() throws {
        let topology = try Topology(Lab("t") { Node("a"); Namespace("x") { Pod("p", app: .echo(ports: [1])) } })
        XCTAssertEqual(try JSONDecoder().decode(Topology.self, from: JSONEncoder().encode(topology)), topology)
    }
}


extension TopologyTests {
    /// `apply` re-plans against the running lab: kept pods keep addresses and devices, removed ones'
    /// are not reused (the kernel frees them asynchronously), new pods get free ones.
    func testAllocationIsStableAcrossApply() throws {
        let running = try Topology(Lab("t") {
            Node("a")
            Namespace("x") { Pod("p0", node: "a"); Pod("p1", node: "a"); Pod("p2", node: "a") }
        })
        let updated = try Topology(Lab("t") {
            Node("a")
            Namespace("x") { Pod("new", node: "a"); Pod("p0", node: "a"); Pod("p2", node: "a") }
        }, previous: running)
        let byName = Dictionary(uniqueKeysWithValues: updated.pods.map { ($0.name, $0) })
        XCTAssertEqual(byName["p0"]?.ip.description, "10.244.0.2")
        XCTAssertEqual(byName["p2"]?.ip.description, "10.244.0.4")
        XCTAssertEqual(byName["p2"]?.hostVeth, "veth2")
        XCTAssertEqual(byName["new"]?.ip.description, "10.244.0.5", "p1's 10.244.0.3 is not reused")
        XCTAssertEqual(byName["new"]?.hostVeth, "veth3")
        let addition = Plan(updated, addingPods: ["x/new"])
        XCTAssertEqual(addition.netnsNames, ["t-x-new"])
        XCTAssertEqual(addition.links.flatMap(\.ops), [.veth(name: "veth3", alias: "meshlab:t:x/new", peer: "eth0", peerNetns: "t-x-new", master: nil)])
        XCTAssertEqual(addition.processes, [])
    }
}
