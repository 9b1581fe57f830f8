import MeshLab

/// Ambient traffic in Istio 1.18's node-level iptables mode: the node marks an enrolled
/// pod's packets (0x100) and routes them through the `istioout` Geneve tunnel (VNI 1001) into
/// ztunnel's netns, where TPROXY hands them to 15001; HBONE crosses the underlay; on the other node
/// traffic for an enrolled pod is routed into `istioin` (VNI 1000) and TPROXYed to 15008.
let nodeIptablesGeneve = Lab("node-iptables-geneve", settings: LabSettings(redirect: .iptables)) {
    Node("node-a")
    Node("node-b")

    Namespace("foo", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("httpbin", serviceAccount: "httpbin", labels: ["app": "httpbin"], node: "node-b", app: .echo(ports: [8000]))
        Pod("helloworld", serviceAccount: "helloworld", labels: ["app": "helloworld"], node: "node-a", app: .echo(ports: [5000]))
        Service("httpbin", ports: [.port(8000)])
    }
    Namespace("legacy", mode: .none) {
        Pod("client", node: "node-a", app: .client)
        Pod("server", node: "node-b", app: .echo(ports: [8080]))
    }

    let sleep = "spiffe://cluster.local/ns/foo/sa/sleep"
    let httpbin = "spiffe://cluster.local/ns/foo/sa/httpbin"
    // First, while no HBONE connection is pooled: a new connection's first packets take every hop.
    Check("Istio 1.18's hops: mark, istioout, ztunnel 15001, HBONE, istioin, ztunnel 15008", from: "foo/sleep",
          to: .pod("foo/httpbin", port: 8000),
          expect: [.ok, .path(["pod foo/sleep", "node node-a mark 0x100", "istioout node-a", "ztunnel node-a outbound", "HBONE",
                               "istioin node-b", "ztunnel node-b inbound", "pod foo/httpbin"])])
    Check("cross node: the node's marks and Geneve tunnels bring it to ztunnel, HBONE between nodes", from: "foo/sleep",
          to: .service("foo/httpbin", port: 8000), count: 3,
          expect: [.ok, .reached("foo/httpbin"), .sourcePreserved(true), .mtls(client: sleep, server: httpbin), .hbone(connections: 1, streams: 3),
                   .path(["pod foo/sleep", "node node-a mark 0x100", "istioout node-a", "ztunnel node-a outbound", "HBONE",
                          "node node-b connmark 0x210", "ztunnel node-b inbound", "pod foo/httpbin"])])
    Check("later packets skip the first-packet rule: connmark 0x210 is the fast path", from: "foo/sleep", to: .pod("foo/httpbin", port: 8000),
          protocol: .tcp, count: 2, payload: 100_000, expect: [.ok, .fastPath(firstPackets: 1)])
    Check("same node: ztunnel hands it to its inbound side, policy applied", from: "foo/sleep", to: .pod("foo/helloworld", port: 5000),
          expect: [.ok, .reached("foo/helloworld"), .allowed(at: "ztunnel node-a"),
                   .path(["pod foo/sleep", "node node-a mark 0x100", "istioout node-a", "ztunnel node-a outbound", "ztunnel node-a inbound",
                          "pod foo/helloworld"])])
    Check("out of the mesh: plaintext from the pod's own address", from: "foo/sleep", to: .pod("legacy/server", port: 8080), protocol: .tcp,
          expect: [.ok, .reached("legacy/server"), .sourcePreserved(true)])
    Check("into the mesh: istioin and 15006, no identity", from: "legacy/client", to: .pod("foo/httpbin", port: 8000),
          expect: [.ok, .plaintext, .sourcePreserved(true),
                   .path(["pod legacy/client", "istioin node-b", "ztunnel node-b inbound", "pod foo/httpbin"])])
    Check("only HBONE crosses the underlay, never the payload", from: "foo/sleep", to: .pod("foo/httpbin", port: 8000),
          protocol: .tcp, payload: 4096, expect: [.ok, .onlyHBONE(on: "underlay"), .neverInPlaintext(on: "underlay")])
}
