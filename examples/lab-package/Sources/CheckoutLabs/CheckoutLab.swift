import MeshLab

/// A checkout service in an ambient namespace: the frontend may call it, nobody else may.
public let checkoutLab = Lab("checkout") {
    Node("node-a")
    Node("node-b")

    Namespace("shop", mode: .ambient) {
        Pod("frontend", serviceAccount: "frontend", node: "node-a", app: .client)
        Pod("batch", serviceAccount: "batch", node: "node-a", app: .client)
        Pod("checkout", serviceAccount: "checkout", labels: ["app": "checkout"], node: "node-b", app: .echo(ports: [8080]))
        Service("checkout", ports: [.port(80, target: 8080)])
        AuthorizationPolicy("checkout-callers", selector: ["app": "checkout"]) {
            Rule(from: [.principals(["cluster.local/ns/shop/sa/frontend"])])
        }
    }

    Check("the frontend reaches checkout over mutual TLS", from: "shop/frontend", to: .service("shop/checkout", port: 80),
          expect: [.ok, .reached("shop/checkout"), .allowed(by: "shop/checkout-callers"), .mtls(client: "spiffe://cluster.local/ns/shop/sa/frontend",
                                                         server: "spiffe://cluster.local/ns/shop/sa/checkout")])
    Check("a batch job is refused by checkout's ztunnel", from: "shop/batch", to: .service("shop/checkout", port: 80),
          expect: [.reset, .denied(reason: "allow policies exist, but none allowed")])
}
