import MeshLab
import XCTest

final class PlanTests: XCTestCase {
    let topology = try! Topology(Lab("p") {
        Node("a"); Node("b")
        Namespace("x") {
            Pod("c", node: "a", app: .client)
            Pod("s", node: "b", app: .echo(ports: [8000, 9000]))
        }
    })

    func testNamespacesComeFirstWithRouterSysctlsOnNodes() {
        let plan = Plan(topology)
        XCTAssertEqual(plan.netnsNames, ["p-underlay", "p-a", "p-b", "p-x-c", "p-x-s"])
        XCTAssertEqual(plan.marker, "meshlab:p")
        XCTAssertTrue(plan.namespaces[1].sysctls.contains(Sysctl(key: "net.ipv4.ip_forward", value: "1")))
        XCTAssertEqual(plan.namespaces[3].sysctls, [Sysctl(key: "net.core.somaxconn", value: "65535"),
                                                    Sysctl(key: "net.netfilter.nf_conntrack_acct", value: "1")])
    }

    func testLinksAreCreatedFromTheOwningSideWithPeersInTheirNetns() {
        let plan = Plan(topology)
        XCTAssertEqual(plan.links[0].netns, "p-underlay")
        XCTAssertEqual(plan.links[0].ops.first, .bridge(name: "br0", alias: "meshlab:p"))
        XCTAssertEqual(plan.links[0].ops[1], .veth(name: "node0", alias: "meshlab:p:a", peer: "eth0", peerNetns: "p-a", master: "br0"))
        XCTAssertEqual(plan.links[1].ops, [.veth(name: "veth0", alias: "meshlab:p:x/c", peer: "eth0", peerNetns: "p-x-c", master: nil)])
        XCTAssertEqual(plan.links[2].ops, [.veth(name: "veth1", alias: "meshlab:p:x/s", peer: "eth0", peerNetns: "p-x-s", master: nil)])
    }

    func testPtpRoutingBetweenPodsNodesAndTheUnderlay() {
        let plan = Plan(topology)
        let nodeA = plan.addressing.first { $0.netns == "p-a" }!.ops
        XCTAssertEqual(nodeA, [
            .up(device: "eth0"), .address(device: "eth0", cidr: "172.30.0.1/24"),
            .address(device: "veth0", cidr: "10.244.0.1/32"),
            .route(destination: "10.244.0.2/32", gateway: nil, device: "veth0"),
            .route(destination: "10.244.1.0/24", gateway: "172.30.0.2", device: "eth0"),
        ])
        let pod = plan.addressing.first { $0.netns == "p-x-s" }!.ops
        XCTAssertEqual(pod, [
            .up(device: "eth0"), .address(device: "eth0", cidr: "10.244.1.2/32"),
            .route(destination: "10.244.1.1/32", gateway: nil, device: "eth0"),
            .route(destination: nil, gateway: "10.244.1.1", device: "eth0"),
        ])
    }

    func testEchoPodsGetAnEchoProcessInTheirNetns() {
        let plan = Plan(topology)
        XCTAssertEqual(plan.processes, [ProcessSpec(
            name: "echo-x-s", netns: "p-x-s",
            arguments: ["echo", "--lab", "p", "--pod", "x/s", "--node", "b", "--port", "8000", "--port", "9000"])])
    }
}
