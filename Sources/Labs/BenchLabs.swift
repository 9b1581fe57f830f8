import MeshLab

/// The labs `meshlab bench` brings up.
public enum BenchLabs {
    /// `pods` bare pods spread over two nodes: what `meshlab bench up` brings up and down.
    public static func scale(pods: Int) -> LabSpec {
        Lab("scale-\(pods)", settings: LabSettings(nodePodPrefix: 22)) {
            Node("node-a")
            Node("node-b")
            Namespace("bench") {
                for index in 0..<pods {
                    Pod("pod-\(index)")
                }
            }
        }
    }

    /// Cross-node TCP between a client and an echo server, through the ztunnel pair (`mesh`) and
    /// over plain veths (`plain`), which the stunnel and haproxy pairs also use.
    public static let ztunnel = Lab("bench-ztunnel") {
        Node("node-a")
        Node("node-b")
        clientAndEcho("mesh", mode: .ambient, port: 9000)
        clientAndEcho("plain", mode: .none, port: 9000)
    }

    /// The L7 paths against ztunnel alone: through a waypoint (`l7`), sidecar to sidecar (`injected`).
    public static let waypoint = Lab("bench-waypoint") {
        Node("node-a")
        Node("node-b")
        clientAndEcho("mesh", mode: .ambient, port: 8000)
        Namespace("l7", mode: .ambient, waypoint: "waypoint") {
            Waypoint("waypoint", node: "node-b")
            Pod("echo", node: "node-b", app: .echo(ports: [8000]))
        }
        clientAndEcho("injected", mode: .sidecar, port: 8000)
    }

    /// HTTP between a client and echo servers on its node (`near`) and the other (`far`), captured in
    /// redirection mode `mode`, or outside the mesh (nil).
    public static func redirect(_ mode: RedirectionMode?) -> LabSpec {
        Lab("bench-\(mode?.rawValue ?? "nomesh")", settings: LabSettings(redirect: mode ?? .inpod)) {
            Node("node-a")
            Node("node-b")
            Namespace("app", mode: mode == nil ? .none : .ambient) {
                Pod("client", node: "node-a", app: .client)
                Pod("near", node: "node-a", app: .echo(ports: [8000]))
                Pod("far", node: "node-b", app: .echo(ports: [8000]))
            }
        }
    }

    /// A client on node-a and an echo server on node-b, in namespace `name`.
    private static func clientAndEcho(_ name: String, mode: DataplaneMode, port: Int) -> Namespace {
        Namespace(name, mode: mode) {
            Pod("client", node: "node-a", app: .client)
            Pod("echo", node: "node-b", app: .echo(ports: [port]))
        }
    }
}
