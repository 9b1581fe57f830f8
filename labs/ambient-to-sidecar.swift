import MeshLab

/// Ambient calling a sidecar (the ambient–sidecar coexistence deep dive, scenario one), in Istio 1.18's node-level iptables mode: an ambient sleep on node A calls
/// httpbin, whose namespace uses sidecars, on node B. (1–3) node A marks sleep's packets and routes
/// them into istioout; (4–5) they arrive at ztunnel's 15001 through pistioout; (6) ztunnel picks an
/// httpbin endpoint and, the endpoint not being in the ambient mesh, connects to it in plain TCP
/// across the node network; (7) httpbin's own iptables send the connection to its sidecar's 15006;
/// (8) the sidecar hands it to the httpbin container.
let ambientToSidecar = Lab("ambient-to-sidecar", settings: LabSettings(redirect: .iptables)) {
    Node("node-a")
    Node("node-b")

    Namespace("foo", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
    }
    Namespace("bar", mode: .sidecar) {
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        Service("httpbin", ports: [.port(8000)])
    }

    Check("hops 1–8: ztunnel sends plain TCP, httpbin's sidecar captures it on 15006", from: "foo/sleep", to: .service("bar/httpbin", port: 8000),
          expect: [.ok, .reached("bar/httpbin"), .allowed(at: "sidecar bar/httpbin"),
                   .path(["pod foo/sleep", "node node-a mark 0x100", "istioout node-a", "ztunnel node-a outbound", "plaintext",
                          "redirect 15006", "sidecar bar/httpbin inbound", "pod bar/httpbin"])])
    Check("no mTLS on the way: the sidecar sees no peer identity", from: "foo/sleep", to: .pod("bar/httpbin", port: 8000), protocol: .tcp,
          expect: [.ok, .plaintext])
}
