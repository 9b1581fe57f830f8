import MeshLab

/// The in-pod packet lifecycle: the first packet of a connection is redirected by a rule
/// in the pod to ztunnel, which reads the original destination, applies policy and opens HBONE;
/// every later packet follows conntrack's established entry past the rules; later connections
/// reuse the HBONE tunnel; traffic leaving the mesh goes out in plaintext.
let inpodLifecycle = Lab("inpod-lifecycle") {
    Node("node-a")
    Node("node-b")

    Namespace("shop", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        AuthorizationPolicy("allow-sleep", selector: ["app": "httpbin"]) {
            Rule(from: [.principals(["cluster.local/ns/shop/sa/sleep"])])
        }
    }
    Namespace("external", mode: .none) {
        Pod("web", node: "node-b", app: .echo(ports: [8080]))
    }

    let httpbin = CallTarget.pod("shop/httpbin", port: 8000)
    Check("first packet: redirect rule, original destination, policy, HBONE", from: "shop/sleep", to: httpbin,
          expect: [.ok, .allowed(by: "shop/allow-sleep"),
                   .path(["pod shop/sleep", "redirect 15001", "ztunnel node-a outbound", "HBONE", "ztunnel node-b inbound", "pod shop/httpbin"])])
    Check("later packets take conntrack's fast path, past the rules", from: "shop/sleep", to: httpbin, protocol: .tcp, count: 3,
          payload: 200_000, expect: [.ok, .fastPath(firstPackets: 1)])
    Check("later connections reuse the HBONE tunnel", from: "shop/sleep", to: httpbin, count: 5,
          expect: [.ok, .hbone(connections: 1, streams: 5)])
    Check("only HBONE crosses the underlay, never the payload", from: "shop/sleep", to: httpbin, protocol: .tcp, payload: 4096,
          expect: [.ok, .onlyHBONE(on: "underlay"), .neverInPlaintext(on: "underlay")])
    Check("out of the mesh: plaintext, still redirected first", from: "shop/sleep", to: .pod("external/web", port: 8080), protocol: .tcp,
          expect: [.ok, .fastPath(firstPackets: 1),
                   .path(["pod shop/sleep", "redirect 15001", "ztunnel node-a outbound", "plaintext", "pod external/web"])])
    Check("a long-lived connection outlives an unrelated policy push", from: "shop/sleep", to: httpbin, protocol: .tcp,
          during: .addPolicy(namespace: "shop", AuthorizationPolicy("deny-9999", action: .deny) { Rule(to: [.ports([9999])]) }),
          expect: [.ok])
    Check("a policy push closes a long-lived connection it now denies", from: "shop/sleep", to: httpbin, protocol: .tcp,
          during: .addPolicy(namespace: "shop", AuthorizationPolicy("deny-sleep", action: .deny, selector: ["app": "httpbin"]) {
              Rule(from: [.principals(["cluster.local/ns/shop/sa/sleep"])])
          }),
          expect: [.reset])
}
