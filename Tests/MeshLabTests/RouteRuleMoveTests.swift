@testable import Dataplane
import MeshLab
import MeshLabRuntime
import NIOHTTP1
import XCTest

/// A rule that only moved in the lab file (another source line, nothing else changed) is the same
/// rule to the waypoint: an `apply` pushing it keeps its weighted round robin where it was.
final class RouteRuleMoveTests: XCTestCase {
    /// The lab's config with the route's one weighted rule written at `line`.
    private func config(ruleAt line: Int, version: Int) throws -> MeshConfig {
        let lab = Lab("move") {
            Node("a")
            Namespace("shop", mode: .ambient, waypoint: "waypoint") {
                Waypoint("waypoint")
                Pod("reviews", app: .echo(ports: [9080]))
                Pod("reviews-v1", app: .echo(ports: [9080]))
                Pod("reviews-v2", app: .echo(ports: [9080]))
                Service("reviews", ports: [.port(9080)])
                Service("reviews-v1", ports: [.port(9080)])
                Service("reviews-v2", ports: [.port(9080)])
                HTTPRoute("reviews", service: "reviews") {
                    RouteRule(backends: [.service("reviews-v1", weight: 1), .service("reviews-v2", weight: 1)], line: line)
                }
            }
        }
        return MeshConfigCompiler.compile(try Topology(lab), version: version)
    }

    private func pick(_ table: RouteTable, in config: MeshConfig) throws -> String? {
        let index = MeshIndex(config)
        let reviews = try XCTUnwrap(index.service(hostname: "reviews.shop.svc.cluster.local"))
        let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        return table.decide(request, to: reviews, port: 9080, in: index).backend?.service.name
    }

    func testARuleThatOnlyMovedKeepsItsWeightedRoundRobin() throws {
        let table = RouteTable()
        XCTAssertEqual(try pick(table, in: config(ruleAt: 10, version: 1)), "reviews-v1")
        // The same rule, now written ten lines further down: the next pick continues the rotation.
        XCTAssertEqual(try pick(table, in: config(ruleAt: 20, version: 2)), "reviews-v2",
                       "moving a rule to another line must not restart its weighted round robin")
        XCTAssertEqual(try pick(table, in: config(ruleAt: 20, version: 3)), "reviews-v1")
    }
}
