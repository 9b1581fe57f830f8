import Foundation
import Labs
import MeshLab
import MeshLabRuntime
import XCTest

final class GraphTests: XCTestCase {
    let graph = TopologyGraph(topology: try! Topology(LabCatalog.lab(named: "ambient-basic")!))

    func testDOTShowsNodesNamespacesZTunnelsHBONEAndServices() {
        let dot = graph.dot()
        XCTAssertTrue(dot.hasPrefix("digraph \"ambient-basic\" {"), dot)
        XCTAssertTrue(dot.contains("subgraph \"cluster_node-a\""))
        XCTAssertTrue(dot.contains("label=\"ambient (ambient)\""))
        XCTAssertTrue(dot.contains("label=\"legacy (none)\""))
        XCTAssertTrue(dot.contains("\"ztunnel:node-a\" -> \"ztunnel:node-b\" [label=\"HBONE :15008\""))
        XCTAssertTrue(dot.contains("label=\"ztunnel\\n10.244.0.254\\nin-pod REDIRECT\""), dot)
        let ebpf = TopologyGraph(topology: try! Topology(LabCatalog.lab(named: "ebpf-redirection")!)).dot()
        XCTAssertTrue(ebpf.contains("\\neBPF on tc\""), ebpf)
        XCTAssertTrue(dot.contains("\"svc:ambient/echo\" -> \"pod:ambient/echo-a\";"))
        XCTAssertTrue(dot.contains("\"svc:ambient/echo\" -> \"pod:ambient/echo-b\";"))
        XCTAssertFalse(dot.contains("\"svc:ambient/echo\" -> \"pod:ambient/sleep-a\""))
        XCTAssertEqual(dot.filter { $0 == "{" }.count, dot.filter { $0 == "}" }.count)
    }

    func testMermaidHasOneSubgraphPerNodeAndNamespace() {
        let mermaid = graph.mermaid()
        XCTAssertTrue(mermaid.hasPrefix("flowchart LR"))
        XCTAssertEqual(mermaid.components(separatedBy: "subgraph ").count - 1, 6)  // 2 nodes + 4 node/namespace groups
        XCTAssertEqual(mermaid.components(separatedBy: "\n").filter { $0.trimmingCharacters(in: .whitespaces) == "end" }.count, 6)
        XCTAssertTrue(mermaid.contains("ztunnel_node_a <-. HBONE :15008 .-> ztunnel_node_b"))
    }

    func testNoMeshMeansNoZTunnelsInThePicture() throws {
        let plain = TopologyGraph(topology: try Topology(BenchLabs.scale(pods: 4)))
        XCTAssertFalse(plain.dot().contains("ztunnel"))
        XCTAssertFalse(plain.mermaid().contains("HBONE"))
    }

    func testThePlanListingShowsEveryPhaseInOrderWithTheRulesThemselves() throws {
        let listing = PlanListing(plan: Plan(try Topology(LabCatalog.lab(named: "ebpf-redirection")!))).text()
        let phases = ["1. network namespaces", "2. links", "3. addresses and routes", "4. redirection (ebpf)", "5. processes", "6. eBPF", "7. lab CA"]
        let positions = phases.map { listing.range(of: $0)?.lowerBound }
        XCTAssertFalse(positions.contains(nil), listing)
        XCTAssertEqual(positions.compactMap { $0 }, positions.compactMap { $0 }.sorted(), "phases in the order `up` runs them")
        XCTAssertTrue(listing.contains("tc filter add dev veth0 ingress bpf da obj ambient_redirect.o sec app_outbound"), listing)
        let inPod = PlanListing(plan: Plan(try Topology(LabCatalog.lab(named: "ambient-basic")!))).text()
        XCTAssertTrue(inPod.contains(InPodRedirection.rules.split(separator: "\n").first { $0.contains("REDIRECT --to-ports 15006") }!), inPod)
        XCTAssertFalse(inPod.contains("6. eBPF"))
    }
}
