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
}
