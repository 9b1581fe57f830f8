import MeshLab

/// A waypoint behind ztunnel (Istio's `ambient.istio.io/waypoint-inbound-binding: PROXY/15088`):
/// the waypoint's pod is in the ambient mesh, so callers' HBONE to its 15008 ends at its node's
/// ztunnel, which hands the waypoint plain TCP on 15088 after a PROXY protocol v2 header carrying
/// the caller's address and SPIFFE identity (TLV 0xD0). The waypoint's L7 policy decides on that
/// identity, then the request goes on over HBONE as from any waypoint.
let waypointProxyProtocol = Lab("waypoint-proxy-protocol") {
    Node("node-a")
    Node("node-b")

    Namespace("shop", mode: .ambient, waypoint: "waypoint") {
        Waypoint("waypoint", node: "node-b", inbound: .proxy())
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("curl", serviceAccount: "curl", node: "node-a", app: .client)
        Pod("httpbin", serviceAccount: "httpbin", node: "node-b", app: .echo(ports: [8000]))
        Service("httpbin", ports: [.port(8000)])
        AuthorizationPolicy("only-sleep", action: .allow, waypoint: "waypoint") {
            Rule(from: [.principals(["cluster.local/ns/shop/sa/sleep"])])
        }
    }
    Namespace("legacy") {
        Pod("client", node: "node-a", app: .client)
    }

    Check("the waypoint learns the caller's identity from the PROXY header and allows sleep", from: "shop/sleep",
          to: .service("shop/httpbin", port: 8000),
          expect: [.ok, .status(200), .requestHeader("x-request-id"), .allowed(by: "shop/only-sleep", at: "waypoint shop/waypoint"),
                   .allowed(at: "ztunnel node-b")])
    Check("another caller's identity is not allowed there", from: "shop/curl", to: .service("shop/httpbin", port: 8000),
          expect: [.status(403), .denied(reason: "allow policies exist, but none allowed", at: "waypoint shop/waypoint")])
    Check("only ztunnel opens the PROXY port: a caller outside the mesh cannot write its own header (and claim any identity)",
          from: "legacy/client", to: .pod("shop/waypoint", port: 15088), protocol: .tcp, payload: 16, expect: [.not(.ok)])
}
