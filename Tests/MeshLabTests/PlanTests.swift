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

    func testNodeLevelIptablesSetsUpEachNodeEnrollsAmbientPodsAndRunsARedirector() throws {
        let lab = try Topology(Lab("n", settings: LabSettings(redirect: .iptables)) {
            Node("a"); Node("b")
            Namespace("m", mode: .ambient) { Pod("c", node: "a", app: .client); Pod("s", node: "b", app: .echo(ports: [80])) }
            Namespace("x") { Pod("l", node: "a", app: .client) }
        })
        let plan = Plan(lab)
        XCTAssertEqual(plan.redirection.map(\.netns), ["n-ztunnel-a", "n-a", "n-ztunnel-b", "n-b", "n-a", "n-b"],
                       "ztunnel and node setup per node, then enrollments; the pod outside the mesh is not enrolled; nothing runs inside pods")
        let node = plan.redirection[1].ops
        XCTAssertEqual(node.filter { if case .tap = $0 { true } else { false } }, [
            .tap(name: "istioin", alias: "meshlab:n:istioin", mtu: 1450), .tap(name: "istioout", alias: "meshlab:n:istioout", mtu: 1450),
        ])
        let ipset = try XCTUnwrap(node.firstIndex(of: .ipsetCreate(name: "ztunnel-pods-ips", type: "hash:ip")))
        let rules = try XCTUnwrap(node.firstIndex { if case .iptablesRestore = $0 { true } else { false } })
        XCTAssertLessThan(ipset, rules, "the ipset exists before the rules that match it")
        XCTAssertTrue(node.contains(.rule(priority: 103, fwmark: nil, mask: nil, table: 100)))
        XCTAssertTrue(node.contains(.route(destination: nil, gateway: "10.244.0.254", device: "ztunnel0", table: 102)))
        XCTAssertEqual(plan.redirection[4].ops, [
            .ipsetAdd(name: "ztunnel-pods-ips", entries: ["10.244.0.2"]),
            .route(destination: "10.244.0.2/32", gateway: "192.168.126.2", device: "istioin", table: 100),
        ])
        XCTAssertTrue(plan.redirection[0].ops.contains(.localDelivery(table: 100)))
        XCTAssertTrue(plan.redirectorCalls.isEmpty, "iptables mode attaches no programs")
        XCTAssertEqual(plan.processes.filter { $0.name.hasPrefix("redirector-") }.map(\.netns), ["n-a", "n-b"])
        XCTAssertTrue(plan.processes.first { $0.name == "ztunnel-a" }!.arguments.contains("iptables"))
        XCTAssertTrue(Plan(try Topology(Lab("i") { Node("a"); Namespace("m", mode: .ambient) { Pod("c") } })).processes.allSatisfy {
            !$0.name.hasPrefix("redirector-")
        }, "in-pod labs run no redirector")
    }

    func testEBPFModeRoutesAssignedPacketsInZTunnelAndRunsARedirectorPerNode() throws {
        let plan = Plan(try Topology(Lab("e", settings: LabSettings(redirect: .ebpf)) {
            Node("a")
            Namespace("m", mode: .ambient) { Pod("c", node: "a", app: .client) }
        }))
        XCTAssertEqual(plan.redirection.map(\.netns), ["e-ztunnel-a"], "pods are captured by programs, not by rules")
        XCTAssertEqual(plan.redirection[0].ops.suffix(2), [.rule(priority: 32764, fwmark: 0x400, mask: 0xfff, table: 100), .localDelivery(table: 100)])
        let call = try XCTUnwrap(plan.redirectorCalls.first)
        XCTAssertEqual(plan.redirectorCalls.count, 1)
        XCTAssertEqual(call.node, "a")
        XCTAssertEqual(call.attach.map { "\($0.program) \($0.netns) \($0.device) \($0.ingress ? "ingress" : "egress")" }, [
            "ztunnel_host_ingress e-a ztunnel0 ingress", "ztunnel_tproxy e-ztunnel-a eth0 ingress",
            "app_outbound e-a veth0 ingress", "app_inbound e-a veth0 egress",
        ], "ztunnel's programs first, then each captured pod's on its host veth")
        XCTAssertEqual(call.enroll.map(\.ip), ["10.244.0.2"])
        XCTAssertEqual(call.enroll.map(\.netns), ["e-m-c"])
        let redirector = try XCTUnwrap(plan.processes.first { $0.name == "redirector-a" })
        XCTAssertEqual(redirector.netns, "e-a")
        XCTAssertTrue(redirector.arguments.joined(separator: " ").contains("--redirect ebpf --ztunnel-netns e-ztunnel-a --ztunnel-ip 10.244.0.254 --ztunnel-veth ztunnel0"))
    }

    func testInPodModesListTheirRuleBatchAndPolicyRoutingInEachCapturedPod() throws {
        for (mode, rules) in [(RedirectionMode.inpod, InPodRedirection.rules), (.inpodTproxy, InPodRedirection.tproxyRules)] {
            let plan = Plan(try Topology(Lab("i", settings: LabSettings(redirect: mode)) {
                Node("a")
                Namespace("m", mode: .ambient) { Pod("c", node: "a", app: .client) }
                Namespace("x") { Pod("l", node: "a", app: .client) }
            }))
            XCTAssertEqual(plan.redirection, [NetnsOps(netns: "i-m-c", ops: [
                .iptablesRestore(rules: rules), .rule(priority: 32764, fwmark: 0x111, mask: 0xfff, table: 100), .localDelivery(table: 100),
            ])], "only the ambient pod is captured, by its own rules")
            XCTAssertTrue(plan.redirectorCalls.isEmpty)
        }
    }

    func testEachKernelOperationReadsAsTheCommandThatDoesItByHand() {
        XCTAssertEqual(KernelOp.rule(priority: 32764, fwmark: 0x111, mask: 0xfff, table: 100).description,
                       "ip rule add priority 32764 fwmark 0x111/0xfff lookup 100")
        XCTAssertEqual(KernelOp.rule(priority: 103, fwmark: nil, mask: nil, table: 100).description, "ip rule add priority 103 lookup 100")
        XCTAssertEqual(KernelOp.route(destination: nil, gateway: "192.168.127.2", device: "istioout", table: 101).description,
                       "ip route add default via 192.168.127.2 dev istioout table 101")
        XCTAssertEqual(KernelOp.localDelivery(table: 100).description, "ip route add local 0.0.0.0/0 dev lo table 100")
        XCTAssertEqual(KernelOp.ipsetAdd(name: "s", entries: ["10.0.0.1", "10.0.0.2"]).description,
                       "ipset add s 10.0.0.1 -exist\nipset add s 10.0.0.2 -exist")
        XCTAssertEqual(KernelOp.iptablesRestore(rules: "*nat\nCOMMIT\n").description, "iptables-restore --noflush <<'EOF'\n*nat\nCOMMIT\nEOF")
    }

    func testAWaypointIsAnUncapturedPodRunningTheWaypointThatItsNamespaceUses() throws {
        let topology = try Topology(Lab("w") {
            Node("a")
            Namespace("m", mode: .ambient, waypoint: "wp") { Waypoint("wp"); Pod("c", app: .echo(ports: [80])); Service("s", selector: ["app": "c"], ports: [.port(80)]) }
        })
        let waypoint = try XCTUnwrap(topology.pod("m/wp"))
        XCTAssertEqual(waypoint.mode, .none, "ztunnel does not capture the waypoint; it is reached over HBONE directly")
        XCTAssertNil(waypoint.waypoint)
        XCTAssertEqual(topology.pod("m/c")?.waypoint, "m/wp")
        XCTAssertEqual(topology.services.first?.waypoint, "m/wp")
        XCTAssertEqual(topology.waypoints, ["m/wp"])
        let process = try XCTUnwrap(Plan(topology).processes.first { $0.name == "waypoint-m-wp" })
        XCTAssertEqual(process.arguments, ["waypoint", "--lab", "w", "--pod", "m/wp", "--node", "a"])
    }

    func testSettingsWrittenBeforeRedirectionModesMeanInPod() throws {
        let json = #"{"trustDomain":"td","podCIDR":"10.244.0.0/16","nodePodPrefix":24,"serviceCIDR":"10.96.0.0/16","underlayCIDR":"172.30.0.0/24"}"#
        XCTAssertEqual(try JSONDecoder().decode(LabSettings.self, from: Data(json.utf8)).redirect, .inpod)
    }
}
