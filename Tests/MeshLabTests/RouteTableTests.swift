@testable import Dataplane
import MeshLab
import MeshLabRuntime
import NIOHTTP1
import XCTest

/// HTTPRoute decisions at the waypoint: which rule, which backend, which requests a fault hits.
final class RouteTableTests: XCTestCase {
    private func service(_ name: String) -> MeshService {
        MeshService(name: name, namespace: "shop", hostname: "\(name).shop.svc.cluster.local", vips: ["10.96.0.\(name.count)"],
                    ports: [.init(port: 9080, targetPort: 9080)], endpoints: [], waypoint: "shop/waypoint")
    }

    /// The lab's rules as the control plane pushes them.
    private func mesh(_ rules: [RouteRule]) -> MeshIndex {
        MeshIndex(MeshConfig(version: 1, trustDomain: "cluster.local", workloads: [],
                             services: [service("reviews"), service("reviews-v1"), service("reviews-v2")], policies: [],
                             routes: [ServiceRoute(name: "shop/reviews", namespace: "shop", service: "reviews.shop.svc.cluster.local",
                                                  rules: rules.map(MeshConfigCompiler.rule))]))
    }

    private func get(_ uri: String, _ headers: [(String, String)] = [], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    func testSmoothWeightedRoundRobinSpreadsPicksEvenly() {
        let index = mesh([RouteRule(backends: [.service("reviews-v1", weight: 3), .service("reviews-v2", weight: 1)])])
        let table = RouteTable()
        let picks = (0..<8).map { _ in table.decide(get("/"), to: service("reviews"), port: 9080, in: index).backend!.service.name }
        XCTAssertEqual(picks, ["reviews-v1", "reviews-v1", "reviews-v2", "reviews-v1", "reviews-v1", "reviews-v1", "reviews-v2", "reviews-v1"])
    }

    func testPercentagesHitEveryNthRequest() {
        XCTAssertEqual((1...10).filter { RouteTable.hits(50, request: $0) }, [2, 4, 6, 8, 10])
        XCTAssertEqual((1...10).filter { RouteTable.hits(100, request: $0) }.count, 10)
        XCTAssertEqual((1...10).filter { RouteTable.hits(0, request: $0) }, [])
        XCTAssertEqual((1...100).filter { RouteTable.hits(12.5, request: $0) }.count, 12)
    }

    func testFirstMatchingRuleWinsAndMatchesCombinePathMethodAndHeaders() {
        let index = mesh([
            RouteRule(matches: [RouteMatch(path: .prefix("/api"), method: "POST", headers: [.exact("x-version", "v2")])],
                      backends: [.service("reviews-v2")]),
            RouteRule(matches: [.path(.exact("/exact")), .path(.regex("/items/[0-9]+"))], backends: [.service("reviews-v1")]),
            RouteRule(matches: [.header("x-user", "jason")], fault: .abort(418)),
        ])
        let table = RouteTable()
        func rule(_ request: HTTPRequestHead) -> String? { table.decide(request, to: service("reviews"), port: 9080, in: index).rule }
        XCTAssertEqual(rule(get("/api/v1?q=1", [("X-Version", "v2")], method: .POST)), "shop/reviews#0")
        XCTAssertNil(rule(get("/api/v1", [("x-version", "v2")])), "method must match too")
        XCTAssertNil(rule(get("/apis", [("x-version", "v2")], method: .POST)), "prefixes match whole segments")
        XCTAssertEqual(rule(get("/exact")), "shop/reviews#1")
        XCTAssertNil(rule(get("/exact/more")))
        XCTAssertEqual(rule(get("/items/42")), "shop/reviews#1")
        XCTAssertNil(rule(get("/items/42x")), "regexes match the whole path")
        let abort = table.decide(get("/", [("x-user", "jason")]), to: service("reviews"), port: 9080, in: index)
        XCTAssertEqual(abort.abortStatus, 418)
        XCTAssertNil(abort.backend, "no backends: the service itself")
        XCTAssertNil(table.decide(get("/"), to: service("reviews-v1"), port: 9080, in: index).rule, "a service without a route")
    }

    func testAChangedRuleStartsItsCountsOver() {
        let table = RouteTable()
        let weighted = RouteRule(backends: [.service("reviews-v1", weight: 1), .service("reviews-v2", weight: 1)])
        XCTAssertEqual(table.decide(get("/"), to: service("reviews"), port: 9080, in: mesh([weighted])).backend?.service.name, "reviews-v1")
        let swapped = RouteRule(backends: [.service("reviews-v2", weight: 1), .service("reviews-v1", weight: 1)])
        XCTAssertEqual(table.decide(get("/"), to: service("reviews"), port: 9080, in: mesh([swapped])).backend?.service.name, "reviews-v2")
    }
}
