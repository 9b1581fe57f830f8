import MeshLab

/// The default lab: two nodes; an ambient namespace with a client and an echo server on each
/// node behind one service; a legacy namespace outside the mesh with one client and one server.
let ambientBasic = Lab("ambient-basic") {
    Node("node-a")
    Node("node-b")

    Namespace("ambient", mode: .ambient) {
        for node in ["a", "b"] {
            Pod("sleep-\(node)", serviceAccount: "sleep", node: "node-\(node)", app: .client)
            Pod("echo-\(node)", serviceAccount: "echo", labels: ["app": "echo"], node: "node-\(node)",
                app: .echo(ports: [8000, 9000]))
        }
        Service("echo", ports: [.port(80, target: 8000), .port(9000)])
    }

    Namespace("legacy", mode: .none) {
        Pod("client", node: "node-a", app: .client)
        Pod("server", node: "node-b", app: .echo(ports: [8000]))
    }

    let sleep = "spiffe://cluster.local/ns/ambient/sa/sleep"
    let echo = "spiffe://cluster.local/ns/ambient/sa/echo"
    Check("cross-node calls ride HBONE with both identities", from: "ambient/sleep-a", to: .pod("ambient/echo-b", port: 8000),
          count: 3, expect: [.ok, .reached("ambient/echo-b"), .sourcePreserved(true), .mtls(client: sleep, server: echo),
                             .path(["pod ambient/sleep-a", "redirect 15001", "ztunnel node-a outbound", "HBONE",
                                    "ztunnel node-b inbound", "pod ambient/echo-b"])])
    Check("same-node calls ride HBONE too", from: "ambient/sleep-a", to: .pod("ambient/echo-a", port: 8000), protocol: .h2,
          expect: [.ok, .reached("ambient/echo-a"), .mtls(client: sleep, server: echo)])
    Check("the service VIP spreads calls over both endpoints", from: "ambient/sleep-b", to: .service("ambient/echo", port: 80),
          count: 4, expect: [.ok, .spreadOver(["ambient/echo-a", "ambient/echo-b"]), .mtls(client: sleep, server: echo)])
    Check("raw TCP echoes byte for byte over HBONE", from: "ambient/sleep-b", to: .pod("ambient/echo-a", port: 9000), protocol: .tcp,
          payload: 100_000, expect: [.ok, .reached("ambient/echo-a")])
    Check("legacy reaches the mesh in plaintext", from: "legacy/client", to: .pod("ambient/echo-b", port: 8000),
          expect: [.ok, .plaintext, .allowed(), .sourcePreserved(true),
                   .path(["pod legacy/client", "redirect 15006", "ztunnel node-b inbound", "pod ambient/echo-b"])])
    Check("the mesh reaches legacy in plaintext", from: "ambient/sleep-a", to: .pod("legacy/server", port: 8000),
          expect: [.ok, .reached("legacy/server"), .plaintext,
                   .path(["pod ambient/sleep-a", "redirect 15001", "ztunnel node-a outbound", "plaintext", "pod legacy/server"])])
    Check("a port nobody serves resets the call", from: "ambient/sleep-a", to: .pod("ambient/echo-b", port: 7777), protocol: .tcp,
          expect: [.reset])
}
