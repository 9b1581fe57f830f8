import MeshLab

/// Istio 1.20's eBPF redirection: tc programs on the pods' host-side veths send their TCP
/// to ztunnel's veth (app_outbound / app_inbound), ztunnel's own packets go straight to the pods
/// (ztunnel_host_ingress), and on ztunnel's eth0 a socket lookup assigns each packet to ztunnel's
/// established socket or, for a first packet, to the listener its direction calls for (ztunnel_tproxy).
let ebpfRedirection = Lab("ebpf-redirection", settings: LabSettings(redirect: .ebpf)) {
    Node("node-a")
    Node("node-b")

    Namespace("mesh", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("near", serviceAccount: "echo", node: "node-a", app: .echo(ports: [8000]))
        Pod("far", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
    }
    Namespace("legacy", mode: .none) {
        Pod("client", node: "node-a", app: .client)
        Pod("server", node: "node-b", app: .echo(ports: [8080]))
    }

    let sleep = "spiffe://cluster.local/ns/mesh/sa/sleep"
    let echo = "spiffe://cluster.local/ns/mesh/sa/echo"
    Check("cross node: app_outbound, ztunnel, HBONE, app_inbound, ztunnel", from: "mesh/sleep", to: .pod("mesh/far", port: 8000),
          expect: [.ok, .reached("mesh/far"), .sourcePreserved(true), .mtls(client: sleep, server: echo),
                   .path(["pod mesh/sleep", "app_outbound node-a", "ztunnel node-a outbound", "HBONE", "app_inbound node-b",
                          "ztunnel node-b inbound", "pod mesh/far"])])
    Check("later packets: the established-socket lookup", from: "mesh/sleep", to: .pod("mesh/far", port: 8000), protocol: .tcp, count: 2,
          payload: 100_000, expect: [.ok, .fastPath(firstPackets: 1), .hbone(connections: 1, streams: 2)])
    Check("same node: handed to ztunnel's inbound side", from: "mesh/sleep", to: .pod("mesh/near", port: 8000),
          expect: [.ok, .reached("mesh/near"), .sourcePreserved(true), .allowed(at: "ztunnel node-a"),
                   .path(["pod mesh/sleep", "app_outbound node-a", "ztunnel node-a outbound", "ztunnel node-a inbound", "pod mesh/near"])])
    Check("out of the mesh", from: "mesh/sleep", to: .pod("legacy/server", port: 8080), protocol: .tcp,
          expect: [.ok, .reached("legacy/server"), .sourcePreserved(true)])
    Check("into the mesh: app_inbound to 15006, no identity", from: "legacy/client", to: .pod("mesh/far", port: 8000),
          expect: [.ok, .plaintext, .sourcePreserved(true), .path(["pod legacy/client", "app_inbound node-b", "ztunnel node-b inbound", "pod mesh/far"])])
    Check("only HBONE on the underlay", from: "mesh/sleep", to: .pod("mesh/far", port: 8000), protocol: .tcp, payload: 4096,
          expect: [.ok, .onlyHBONE(on: "underlay"), .neverInPlaintext(on: "underlay")])
}
