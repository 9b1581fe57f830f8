import MeshLab

/// A waypoint's L7 features. ztunnel sends traffic for the shop namespace's services and workloads to
/// its waypoint over HBONE (verifying the waypoint's identity), and traffic for pods running as the
/// `reviews` service account to that account's own waypoint. The waypoints add x-request-id, apply
/// their L7 policies (403 naming the policy), route by HTTPRoute (header match, weights, faults,
/// timeouts) and send each request on over HBONE to the destination's ztunnel. A namespace without
/// a waypoint stays L4 only.
let waypointL7 = Lab("waypoint-l7") {
    Node("node-a")
    Node("node-b")

    Namespace("shop", mode: .ambient, waypoint: "waypoint") {
        Waypoint("waypoint", node: "node-b")
        Waypoint("reviews-waypoint", for: "reviews", node: "node-a")
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        Pod("reviews-v1", serviceAccount: "reviews", labels: ["app": "reviews", "version": "v1"], node: "node-a", app: .echo(ports: [9080]))
        Pod("reviews-v2", serviceAccount: "reviews", labels: ["app": "reviews", "version": "v2"], node: "node-b", app: .echo(ports: [9080]))
        Service("httpbin", ports: [.port(8000)])
        Service("reviews", ports: [.port(9080)])
        Service("reviews-v1", selector: ["app": "reviews", "version": "v1"], ports: [.port(9080)])
        Service("reviews-v2", selector: ["app": "reviews", "version": "v2"], ports: [.port(9080)])
        HTTPRoute("reviews", service: "reviews") {
            RouteRule(matches: [.header("x-version", "v2")], backends: [.service("reviews-v2")])
            RouteRule(matches: [.path(.prefix("/ratings"))], fault: .abort(503, percent: 50))
            RouteRule(matches: [.path(.prefix("/slow"))], fault: .delay(.milliseconds(300)))
            RouteRule(matches: [.path(.prefix("/delay"))], timeout: .milliseconds(200))
            RouteRule(matches: [.path(.prefix("/status"))], retries: 2)
            RouteRule(backends: [.service("reviews-v1", weight: 3), .service("reviews-v2", weight: 1)])
        }
        AuthorizationPolicy("deny-post", action: .deny, waypoint: "waypoint") {
            Rule(to: [.methods(["POST"])])
        }
        AuthorizationPolicy("reviews-no-admin", action: .deny, waypoint: "reviews-waypoint") {
            Rule(to: [.paths(["/admin*"])])
        }
    }
    Namespace("plain", mode: .ambient) {
        Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
    }

    let waypoint = "spiffe://cluster.local/ns/shop/sa/waypoint"
    Check("GET goes through the waypoint: x-request-id added, allowed there", from: "shop/sleep", to: .service("shop/httpbin", port: 8000),
          count: 2, expect: [.ok, .status(200), .reached("shop/httpbin"), .requestHeader("x-request-id"),
                             .allowed(at: "waypoint shop/waypoint"), .allowed(at: "ztunnel node-b"),
                             .path(["pod shop/sleep", "redirect 15001", "ztunnel node-a outbound", "HBONE", "waypoint shop/waypoint", "HBONE",
                                    "ztunnel node-b inbound", "pod shop/httpbin"])])
    Check("the destination's ztunnel sees the waypoint's identity", from: "shop/sleep", to: .pod("shop/httpbin", port: 8000),
          expect: [.ok, .mtls(client: waypoint, server: "spiffe://cluster.local/ns/shop/sa/httpbin")])
    Check("POST is denied at the waypoint with 403, by its L7 policy", from: "shop/sleep", to: .service("shop/httpbin", port: 8000),
          payload: 16, expect: [.status(403), .denied(by: "shop/deny-post", at: "waypoint shop/waypoint")])
    Check("h2c through the waypoint", from: "shop/sleep", to: .service("shop/httpbin", port: 8000), protocol: .h2,
          expect: [.ok, .status(200), .requestHeader("x-request-id"), .allowed(at: "waypoint shop/waypoint")])
    Check("other TCP passes through the waypoint", from: "shop/sleep", to: .service("shop/httpbin", port: 8000), protocol: .tcp, payload: 4096,
          expect: [.ok, .reached("shop/httpbin"), .mtls(client: waypoint, server: "spiffe://cluster.local/ns/shop/sa/httpbin")])
    Check("weights 3:1 split 8 calls 6 and 2", from: "shop/sleep", to: .service("shop/reviews", port: 9080), count: 8,
          expect: [.ok, .split(["shop/reviews-v1": 6, "shop/reviews-v2": 2])])
    Check("x-version: v2 goes to v2 only", from: "shop/sleep", to: .service("shop/reviews", port: 9080),
          request: .get("/", headers: ["x-version": "v2"]), count: 4, expect: [.ok, .split(["shop/reviews-v2": 4])])
    Check("a 50% abort fault answers every other call with 503", from: "shop/sleep", to: .service("shop/reviews", port: 9080),
          request: .get("/ratings"), count: 10, expect: [.statuses([200: 5, 503: 5])])
    Check("a 300 ms delay fault holds every call", from: "shop/sleep", to: .service("shop/reviews", port: 9080),
          request: .get("/slow"), count: 2, expect: [.ok, .status(200), .tookAtLeast(milliseconds: 300)])
    Check("a 200 ms timeout answers a 1 s upstream with 504", from: "shop/sleep", to: .service("shop/reviews", port: 9080),
          request: .get("/delay/1"), expect: [.status(504)])
    Check("pods of the reviews account go through their own waypoint", from: "shop/sleep", to: .pod("shop/reviews-v2", port: 9080),
          expect: [.ok, .requestHeader("x-request-id"), .allowed(at: "waypoint shop/reviews-waypoint")])
    Check("the reviews waypoint enforces its own policy", from: "shop/sleep", to: .pod("shop/reviews-v1", port: 9080),
          request: .get("/admin/users"), expect: [.status(403), .denied(by: "shop/reviews-no-admin", at: "waypoint shop/reviews-waypoint")])
    Check("without a waypoint: L4 only, no request id", from: "shop/sleep", to: .pod("plain/echo", port: 8000), payload: 16,
          expect: [.ok, .status(200), .not(.requestHeader("x-request-id"))])
}
