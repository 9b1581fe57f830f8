/// A pod: its own network namespace with one veth to its node, running one bundled app.
public struct Pod: Codable, Hashable, Sendable {
    public var name: String
    public var serviceAccount: String
    public var labels: [String: String]
    /// The node it runs on; nil lets MeshLab spread pods over nodes in declaration order.
    public var node: String?
    public var app: App
    public var at: SourceLocation

    public init(
        _ name: String,
        serviceAccount: String? = nil,
        labels: [String: String]? = nil,
        node: String? = nil,
        app: App = .none,
        file: String = #filePath, line: Int = #line
    ) {
        self.name = name
        self.serviceAccount = serviceAccount ?? "default"
        self.labels = labels ?? ["app": name]
        self.node = node
        self.app = app
        self.at = SourceLocation(file: file, line: line)
    }
}

/// What runs in a pod. Apps are MeshLab's own, started inside the pod's netns.
public enum App: Codable, Hashable, Sendable {
    /// Nothing runs; the pod is a bare host.
    case none
    /// A client pod (like `sleep`): calls are made from it with `meshlab exec … -- meshlab client`.
    case client
    /// An echo server answering HTTP/1.1, h2c and raw TCP on each port with who it is and what it saw.
    case echo(ports: [Int])

    public var ports: [Int] {
        if case .echo(let ports) = self { return ports }
        return []
    }
}
