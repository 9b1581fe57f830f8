import MeshLab

/// A sidecar calling ambient (the ambient–sidecar coexistence deep dive, scenario two), in Istio 1.18's node-level iptables mode: a sleep with a sidecar on node
/// A calls two ambient services on node B. (1–4) sleep's own iptables send the call to its sidecar's
/// 15001, which picks an httpbin pod; the pod being in the ambient mesh, the sidecar speaks HBONE to
/// it; (5–6) on node B the packets are routed into istioin; (7–8) pistioin → ztunnel's 15008;
/// (9) ztunnel → httpbin. helloworld has a waypoint (on node A): the sidecar sends HBONE straight to
/// the waypoint's 15008, which applies L7 and goes on to helloworld's ztunnel.
let sidecarToAmbient = Lab("sidecar-to-ambient", settings: LabSettings(redirect: .iptables)) {
    Node("node-a")
    Node("node-b")

    Namespace("bar", mode: .sidecar) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
    }
    Namespace("foo", mode: .ambient) {
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        Service("httpbin", ports: [.port(8000)])
    }
    Namespace("hello", mode: .ambient, waypoint: "waypoint") {
        Waypoint("waypoint", node: "node-a")
        Pod("helloworld", serviceAccount: "helloworld", labels: ["app": "helloworld"], node: "node-b", app: .echo(ports: [5000]))
        Service("helloworld", ports: [.port(5000)])
    }

    let sleep = "spiffe://cluster.local/ns/bar/sa/sleep"
    Check("httpbin, hops 1–9: the sidecar speaks HBONE to the pod, node B routes it into istioin", from: "bar/sleep",
          to: .service("foo/httpbin", port: 8000),
          expect: [.ok, .reached("foo/httpbin"), .mtls(client: sleep, server: "spiffe://cluster.local/ns/foo/sa/httpbin"),
                   .path(["pod bar/sleep", "redirect 15001", "sidecar bar/sleep outbound", "HBONE", "istioin node-b",
                          "ztunnel node-b inbound", "pod foo/httpbin"])])
    Check("httpbin traffic does not pass a waypoint (its x-request-id is the sidecar's)", from: "bar/sleep", to: .service("foo/httpbin", port: 8000),
          expect: [.ok, .requestHeader("x-request-id"), .not(.allowed(at: "waypoint hello/waypoint"))])
    Check("helloworld: HBONE straight to its waypoint, which applies L7", from: "bar/sleep", to: .service("hello/helloworld", port: 5000),
          expect: [.ok, .reached("hello/helloworld"), .requestHeader("x-request-id"), .allowed(at: "waypoint hello/waypoint"),
                   .path(["pod bar/sleep", "redirect 15001", "sidecar bar/sleep outbound", "HBONE", "waypoint hello/waypoint", "HBONE",
                          "istioin node-b", "ztunnel node-b inbound", "pod hello/helloworld"])])
}
