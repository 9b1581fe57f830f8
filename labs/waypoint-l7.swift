import MeshLab

/// Seed 002, first slice: a namespace waypoint. ztunnel sends traffic for the namespace's services
/// and workloads to the waypoint over HBONE (verifying the waypoint's identity); the waypoint adds
/// x-request-id, applies the L7 policies that target it (403 and the policy's name when denied), and
/// sends allowed requests on over HBONE to the destination's ztunnel. A namespace without a waypoint
/// stays L4 only.
let waypointL7 = Lab("waypoint-l7") {
    Node("node-a")
    Node("node-b")

    Namespace("shop", mode: .ambient, waypoint: "waypoint") {
        Waypoint("waypoint", node: "node-b")
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        Service("httpbin", ports: [.port(8000)])
        AuthorizationPolicy("deny-post", action: .deny, waypoint: "waypoint") {
            Rule(to: [.methods(["POST"])])
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
    Check("without a waypoint: L4 only, no request id", from: "shop/sleep", to: .pod("plain/echo", port: 8000), payload: 16,
          expect: [.ok, .status(200), .not(.requestHeader("x-request-id"))])
}
