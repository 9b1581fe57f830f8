import MeshLab

/// L4 authorization at the destination ztunnel: only the `sleep` service account may reach `echo`;
/// `intruder` (another identity) and `legacy/client` (plaintext, no identity) are refused, with reasons.
let l4Policy = Lab("l4-policy") {
    Node("node-a")
    Node("node-b")

    Namespace("ambient", mode: .ambient) {
        Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
        Pod("intruder", serviceAccount: "intruder", node: "node-a", app: .client)
        Pod("echo", serviceAccount: "echo", node: "node-b", app: .echo(ports: [8000]))
        AuthorizationPolicy("allow-sleep", selector: ["app": "echo"]) {
            Rule(from: [.principals(["cluster.local/ns/ambient/sa/sleep"])])
        }
    }

    Namespace("legacy", mode: .none) {
        Pod("client", node: "node-a", app: .client)
    }

    Check("sleep is allowed, by allow-sleep", from: "ambient/sleep", to: .pod("ambient/echo", port: 8000),
          expect: [.ok, .allowed(by: "ambient/allow-sleep"), .mtls(client: "spiffe://cluster.local/ns/ambient/sa/sleep", server: nil)])
    Check("intruder is refused: no allow policy matches", from: "ambient/intruder", to: .pod("ambient/echo", port: 8000),
          expect: [.reset, .denied(reason: "allow policies exist, but none allowed")])
    Check("plaintext has no identity, so it is refused", from: "legacy/client", to: .pod("ambient/echo", port: 8000),
          expect: [.reset, .denied(reason: "allow policies exist, but none allowed")])
}
