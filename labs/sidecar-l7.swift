import MeshLab

/// MeshLab's L7 proxy in its sidecar role. Sidecars reach each other over HBONE (mutual TLS with
/// both pods' identities, as Istio's sidecar HBONE mode does). sleep's sidecar adds x-request-id and applies the
/// HTTPRoute of a sidecar namespace's service at the client (header match, 3:1 weights); each
/// reviews pod's sidecar enforces the namespace's L7 policy request by request (403 naming it), also
/// for an ambient caller, whose ztunnel sends plain TCP and applies no route (L4 only, round robin).
/// Traffic that is not HTTP stays L4 in the sidecars, where a DENY's HTTP fields are ignored.
let sidecarL7 = Lab("sidecar-l7") {
    Node("node-a")
    Node("node-b")

    Namespace("bar", mode: .sidecar) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("reviews-v1", serviceAccount: "reviews", labels: ["app": "reviews", "version": "v1"], node: "node-a", app: .echo(ports: [9080]))
        Pod("reviews-v2", serviceAccount: "reviews", labels: ["app": "reviews", "version": "v2"], node: "node-b", app: .echo(ports: [9080]))
        Service("reviews", ports: [.port(9080)])
        Service("reviews-v1", selector: ["app": "reviews", "version": "v1"], ports: [.port(9080)])
        Service("reviews-v2", selector: ["app": "reviews", "version": "v2"], ports: [.port(9080)])
        HTTPRoute("reviews", service: "reviews") {
            RouteRule(matches: [.header("x-version", "v2")], backends: [.service("reviews-v2")])
            RouteRule(backends: [.service("reviews-v1", weight: 3), .service("reviews-v2", weight: 1)])
        }
        AuthorizationPolicy("no-admin", action: .deny, selector: ["version": "v1"]) {
            Rule(to: [.paths(["/admin*"])])
        }
        // Only a caller that proved bar/sleep's identity over mTLS may read /private.
        AuthorizationPolicy("private-for-sleep", action: .deny, selector: ["version": "v1"]) {
            Rule(from: [Rule.Source(notPrincipals: ["cluster.local/ns/bar/sa/sleep"])], to: [.paths(["/private*"])])
        }
    }
    Namespace("foo", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-b", app: .client)
    }

    let sleep = "spiffe://cluster.local/ns/bar/sa/sleep", reviews = "spiffe://cluster.local/ns/bar/sa/reviews"
    Check("sidecar to sidecar: HBONE with both identities, x-request-id added, allowed per request at the destination's sidecar",
          from: "bar/sleep", to: .pod("bar/reviews-v2", port: 9080),
          expect: [.ok, .status(200), .requestHeader("x-request-id"), .allowed(at: "sidecar bar/reviews-v2"), .mtls(client: sleep, server: reviews),
                   .path(["pod bar/sleep", "redirect 15001", "sidecar bar/sleep outbound", "HBONE", "sidecar bar/reviews-v2 inbound", "pod bar/reviews-v2"])])
    Check("the client's sidecar splits 3:1: 8 calls 6 and 2", from: "bar/sleep", to: .service("bar/reviews", port: 9080), count: 8,
          expect: [.ok, .split(["bar/reviews-v1": 6, "bar/reviews-v2": 2])])
    Check("x-version: v2 goes to v2 only", from: "bar/sleep", to: .service("bar/reviews", port: 9080),
          request: .get("/", headers: ["x-version": "v2"]), count: 4, expect: [.ok, .split(["bar/reviews-v2": 4])])
    Check("/admin is denied at the destination's sidecar with 403, by the L7 policy", from: "bar/sleep", to: .pod("bar/reviews-v1", port: 9080),
          request: .get("/admin/users"), expect: [.status(403), .denied(by: "bar/no-admin", at: "sidecar bar/reviews-v1")])
    Check("an ambient caller's plain TCP meets the same L7 policy", from: "foo/sleep", to: .pod("bar/reviews-v1", port: 9080),
          request: .get("/admin/users"), expect: [.status(403), .denied(by: "bar/no-admin", at: "sidecar bar/reviews-v1")])
    Check("the mTLS identity reaches L7 policy: bar/sleep may read /private", from: "bar/sleep", to: .pod("bar/reviews-v1", port: 9080),
          request: .get("/private"), expect: [.ok, .status(200), .allowed(at: "sidecar bar/reviews-v1")])
    Check("a plaintext caller has no identity, so /private is denied", from: "foo/sleep", to: .pod("bar/reviews-v1", port: 9080),
          request: .get("/private"), expect: [.status(403), .denied(by: "bar/private-for-sleep", at: "sidecar bar/reviews-v1")])
    Check("ztunnel applies no route (L4 round robin); the destination's sidecar adds x-request-id", from: "foo/sleep",
          to: .service("bar/reviews", port: 9080), request: .get("/", headers: ["x-version": "v2"]), count: 4,
          expect: [.ok, .split(["bar/reviews-v1": 2, "bar/reviews-v2": 2]), .requestHeader("x-request-id")])
    Check("TCP that is not HTTP stays L4 through both sidecars, over mTLS", from: "bar/sleep", to: .pod("bar/reviews-v2", port: 9080),
          protocol: .tcp, payload: 4096,
          expect: [.ok, .reached("bar/reviews-v2"), .allowed(at: "sidecar bar/reviews-v2"), .mtls(client: sleep, server: reviews)])
    Check("for TCP, a DENY drops its HTTP fields and denies it all (Istio's fail-closed rule)", from: "bar/sleep",
          to: .pod("bar/reviews-v1", port: 9080), protocol: .tcp, payload: 16,
          expect: [.not(.ok), .denied(by: "bar/no-admin", at: "sidecar bar/reviews-v1")])
}
