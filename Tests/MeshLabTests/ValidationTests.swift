import MeshLab
import XCTest

final class ValidationTests: XCTestCase {
    /// Asserts validation reports exactly one error containing `message`, at the given line.
    private func assertOneError(_ lab: LabSpec, _ message: String, line: Int? = nil, file: StaticString = #filePath, testLine: UInt = #line) {
        let errors = validate(lab)
        XCTAssertEqual(errors.count, 1, "\(errors)", file: file, line: testLine)
        guard let error = errors.first else { return }
        XCTAssertTrue(error.message.contains(message), "\(error.message) does not contain \(message)", file: file, line: testLine)
        XCTAssertNotNil(error.hint, file: file, line: testLine)
        if let line { XCTAssertEqual(error.at?.line, line, file: file, line: testLine) }
        XCTAssertThrowsError(try Topology(lab), file: file, line: testLine)
    }

    func testValidLabHasNoErrors() {
        let lab = Lab("ok") {
            Node("a"); Node("b")
            Namespace("ns", mode: .ambient) {
                Pod("c", app: .client)
                Pod("s", app: .echo(ports: [8000]))
                Service("s", ports: [.port(80, target: 8000)])
            }
        }
        XCTAssertEqual(validate(lab), [])
    }

    func testDuplicateNode() {
        let line = #line + 1
        assertOneError(Lab("l") { Node("a"); Node("a") }, "node 'a' is declared twice", line: line)
    }

    func testDuplicateNamespace() {
        assertOneError(Lab("l") { Node("a"); Namespace("x"); Namespace("x") }, "namespace 'x' is declared twice")
    }

    func testDuplicatePod() {
        let line = #line + 1
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p"); Pod("p") } }, "pod 'x/p' is declared twice", line: line)
    }

    func testPodOnUnknownNode() {
        let line = #line + 4
        let lab = Lab("l") {
            Node("a")
            Namespace("x") {
                Pod("p", node: "b")
            }
        }
        assertOneError(lab, "runs on unknown node 'b'", line: line)
        XCTAssertEqual(validate(lab).first?.hint, "declare Node(\"b\") or use one of: a")
    }

    func testServiceThatSelectsNothing() {
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p"); Service("s", ports: [.port(80)]) } },
                       "service 'x/s' selects no pod (selector app=s)")
    }

    func testServiceTargetPortNobodyServes() {
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("s", app: .echo(ports: [8000])); Service("s", ports: [.port(80)]) } },
                       "listens on target port 80")
    }

    func testServiceWithoutPorts() {
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("s"); Service("s", ports: []) } }, "has no ports")
    }

    func testMeshReservedPort() {
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p", app: .echo(ports: [15008])) } }, "port 15008 is the mesh's HBONE port")
    }

    func testInvalidAndRepeatedPorts() {
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p", app: .echo(ports: [70000])) } }, "port 70000 is not a TCP port")
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p", app: .echo(ports: [80, 80])) } }, "lists port 80 twice")
    }

    func testOverlappingCIDRs() {
        let settings = LabSettings(podCIDR: "10.0.0.0/8", serviceCIDR: "10.96.0.0/16")
        assertOneError(Lab("l", settings: settings) { Node("a") }, "serviceCIDR 10.96.0.0/16 overlaps podCIDR 10.0.0.0/8")
    }

    func testMalformedCIDR() {
        assertOneError(Lab("l", settings: LabSettings(underlayCIDR: "172.30.0.0")) { Node("a") }, "underlayCIDR '172.30.0.0' is not an IPv4 CIDR")
    }

    func testNodePodPrefixOutsidePodCIDR() {
        assertOneError(Lab("l", settings: LabSettings(nodePodPrefix: 8)) { Node("a") }, "nodePodPrefix /8 does not fit")
    }

    func testTooManyPodsForANodeBlock() {
        let lab = Lab("l", settings: LabSettings(nodePodPrefix: 28)) {
            Node("a")
            Namespace("x") { for index in 0..<13 { Pod("p\(index)") } }
        }
        assertOneError(lab, "node 'a' has 13 pods but its /28 pod block holds 12")
    }

    func testNoNodes() {
        assertOneError(Lab("l") {}, "lab 'l' has no nodes")
    }

    func testNamesMustBeDNSLabels() {
        assertOneError(Lab("Bad_Lab") { Node("a") }, "lab name 'Bad_Lab' is not a DNS label")
        assertOneError(Lab("l") { Node("-a") }, "node name '-a' is not a DNS label")
        assertOneError(Lab("l") { Node("a"); Namespace("x") { Pod("p", serviceAccount: "S A") } }, "service account name 'S A'")
    }

    func testNetnsNameCollision() {
        assertOneError(Lab("l") { Node("x-p"); Namespace("x") { Pod("p", node: "x-p") } },
                       "pod 'x/p' and node 'x-p' would share the network namespace 'l-x-p'")
    }

    func testWrongDocumentVersion() {
        var lab = Lab("l") { Node("a") }
        lab.apiVersion = "meshlab.dev/v0"
        assertOneError(lab, "lab document version 'meshlab.dev/v0'")
    }

    func testAllErrorsAreReportedAtOnce() {
        let lab = Lab("l") {
            Node("a"); Node("a")
            Namespace("x") { Pod("p", node: "zz"); Pod("q", app: .echo(ports: [15001])) }
        }
        XCTAssertEqual(validate(lab).count, 3)
        XCTAssertThrowsError(try Topology(lab)) { error in
            XCTAssertEqual((error as? LabErrors)?.errors.count, 3)
            XCTAssertTrue("\(error)".contains("error: node 'a' is declared twice"))
        }
    }
}

extension ValidationTests {
    func testChecksMustNameRealPodsAndServicesAndExpectSomething() {
        let base = { (check: Check) in Lab("l") { Node("a"); Namespace("x") { Pod("c"); Pod("s", app: .echo(ports: [80])) }; check } }
        assertOneError(base(Check("c1", from: "x/nobody", to: .pod("x/s", port: 80), expect: [.ok])), "calls from unknown pod 'x/nobody'")
        assertOneError(base(Check("c2", from: "x/c", to: .pod("y/s", port: 80), expect: [.ok])), "calls unknown pod 'y/s'")
        assertOneError(base(Check("c3", from: "x/c", to: .service("x/web", port: 80), expect: [.ok])), "calls unknown service 'x/web'")
        assertOneError(base(Check("c4", from: "x/c", to: .address("web", port: 80), expect: [.ok])), "'web', which is not an IPv4 address")
        assertOneError(base(Check("c5", from: "x/c", to: .pod("x/s", port: 80), expect: [])), "expects nothing, so it cannot fail")
        assertOneError(base(Check("c6", from: "x/c", to: .pod("x/s", port: 80), count: 0, expect: [.ok])), "makes no calls")
    }

    func testWaypointsMustBeDeclaredAndL7PoliciesNeedOne() {
        assertOneError(Lab("l") { Node("a"); Namespace("x", mode: .ambient, waypoint: "wp") { Pod("c") } }, "uses waypoint 'wp', which it does not declare")
        assertOneError(Lab("l") { Node("a"); Namespace("x", mode: .ambient) {
            Pod("c")
            AuthorizationPolicy("p", action: .deny) { Rule(to: [.methods(["POST"])]) }
        } }, "matches HTTP methods or paths, which only a waypoint or a sidecar can see")
        assertOneError(Lab("l") { Node("a"); Namespace("x", mode: .ambient) {
            Pod("c")
            AuthorizationPolicy("p", action: .deny, waypoint: "nope") { Rule(to: [.paths(["/admin*"])]) }
        } }, "targets waypoint 'nope'")
        XCTAssertEqual(validate(Lab("l") { Node("a"); Namespace("x", mode: .ambient, waypoint: "wp") {
            Waypoint("wp")
            Pod("c")
            AuthorizationPolicy("p", action: .deny, waypoint: "wp") { Rule(to: [.paths(["/admin*"])]) }
        } }), [])
        // A waypoint behind ztunnel needs in-pod capture and a port of its own.
        assertOneError(Lab("l", settings: LabSettings(redirect: .iptables)) { Node("a"); Namespace("x", mode: .ambient, waypoint: "wp") {
            Waypoint("wp", inbound: .proxy())
            Pod("c")
        } }, "sits behind ztunnel (PROXY protocol), which needs in-pod redirection, not 'iptables'")
        assertOneError(Lab("l") { Node("a"); Namespace("x", mode: .ambient, waypoint: "wp") {
            Waypoint("wp", inbound: .proxy(port: 15008))
            Pod("c")
        } }, "takes PROXY protocol on port 15008")
        // A sidecar enforces its namespace's L7 policies itself.
        XCTAssertEqual(validate(Lab("l") { Node("a"); Namespace("x", mode: .sidecar) {
            Pod("c")
            AuthorizationPolicy("p", action: .deny) { Rule(to: [.paths(["/admin*"])]) }
        } }), [])
    }

    func testChangesAndWatchedLinksMustExist() {
        let base = { (check: Check) in Lab("l") { Node("a"); Namespace("x") { Pod("c"); Pod("s", app: .echo(ports: [80])) }; check } }
        let s = CallTarget.pod("x/s", port: 80)
        assertOneError(base(Check("c1", from: "x/c", to: s, during: .ztunnelRestart(node: "a"), expect: [.ok])), "needs raw TCP")
        assertOneError(base(Check("c2", from: "x/c", to: s, protocol: .tcp, during: .ztunnelRestart(node: "b"), expect: [.ok])),
                       "restarts the ztunnel of unknown node 'b'")
        assertOneError(base(Check("c3", from: "x/c", to: s, protocol: .tcp, during: .removePolicy("x/nope"), expect: [.ok])),
                       "removes unknown policy 'x/nope'")
        assertOneError(base(Check("c4", from: "x/c", to: s, protocol: .tcp,
                                  during: .addPolicy(namespace: "y", AuthorizationPolicy("p")), expect: [.ok])), "unknown namespace 'y'")
        assertOneError(base(Check("c5", from: "x/c", to: s, expect: [.all([.ok, .onlyHBONE(on: "wan")])])), "watches unknown link 'wan'")
        XCTAssertEqual(validate(base(Check("c6", from: "x/c", to: s, expect: [.onlyHBONE(on: "underlay"), .neverInPlaintext(on: "x/s"),
                                                                              .neverInPlaintext(on: "a")]))), [])
    }
}

/// HTTPRoutes and waypoints: errors name the declaration and say what to do.
final class RouteValidationTests: XCTestCase {
    private func lab(waypoint: String? = "waypoint", @NamespaceBuilder _ extra: () -> [NamespaceItem]) -> LabSpec {
        let items = extra()
        return Lab("r") {
            Node("a")
            Namespace("shop", mode: .ambient, waypoint: waypoint) {
                Waypoint("waypoint")
                Pod("reviews", serviceAccount: "reviews", app: .echo(ports: [9080]))
                Service("reviews", ports: [.port(9080)])
                items
            }
        }
    }

    private func errors(_ lab: LabSpec) -> [String] { validate(lab).map(\.message) }

    func testAValidRouteHasNoErrors() {
        XCTAssertEqual(errors(lab {
            HTTPRoute("r", service: "reviews") {
                RouteRule(matches: [.path(.regex("/items/[0-9]+"))], backends: [.service("reviews", weight: 2)],
                          fault: .delay(.milliseconds(5), percent: 10), timeout: .seconds(1), retries: 2)
            }
        }), [])
    }

    func testRouteErrorsSayWhatAndWhere() {
        let line = #line + 3
        let found = validate(lab {
            HTTPRoute("r", service: "reviews") {
                RouteRule(matches: [.path(.regex("(")), .path(.prefix("api"))], backends: [.service("ratings"), .service("reviews", port: 80)],
                          fault: .abort(700, percent: 120), timeout: .zero, retries: 11)
            }
        })
        let messages = found.map(\.message)
        for expected in ["sends to service 'ratings', which namespace 'shop' does not declare", "sends to port 80 of 'reviews'",
                         "aborts with status 700", "into 120.0% of requests", "timeout of 0 ms", "retries 11 times",
                         "invalid regular expression '('", "matches path 'api'"] {
            XCTAssertTrue(messages.contains { $0.contains(expected) }, "\(expected) not in \(messages)")
        }
        XCTAssertTrue(found.allSatisfy { $0.at?.line == line && $0.hint != nil }, "\(found)")
    }

    func testARouteNeedsItsServiceAndAWaypoint() {
        XCTAssertEqual(errors(lab { HTTPRoute("r", service: "ratings") { RouteRule() } }),
                       ["HTTPRoute 'shop/r' is for service 'ratings', which namespace 'shop' does not declare"])
        XCTAssertEqual(errors(lab(waypoint: nil) { HTTPRoute("r", service: "reviews") { RouteRule() } }),
                       ["HTTPRoute 'shop/r' needs a waypoint to apply it, and namespace 'shop' has none"])
    }

    func testAServiceAccountWaypointMustServeSomeone() {
        XCTAssertEqual(errors(lab { Waypoint("ratings-waypoint", for: "ratings") }),
                       ["waypoint 'shop/ratings-waypoint' serves service account 'ratings', which no pod in 'shop' runs as"])
    }

    func testServiceAccountWaypointsTakeTheirPodsAheadOfTheNamespaceWaypoint() throws {
        let topology = try Topology(lab { Waypoint("reviews-waypoint", for: "reviews") })
        XCTAssertEqual(topology.pod("shop/reviews")?.waypoint, "shop/reviews-waypoint")
        XCTAssertEqual(topology.services.first?.waypoint, "shop/waypoint", "services keep the namespace's waypoint")
        XCTAssertNil(topology.pod("shop/reviews-waypoint")?.waypoint, "a waypoint is never behind one")
    }
}
