/// A Kubernetes-style Service: a VIP whose ports forward to the selected pods' target ports.
public struct Service: Codable, Hashable, Sendable {
    public var name: String
    public var selector: [String: String]
    public var ports: [ServicePort]
    public var at: SourceLocation

    public init(
        _ name: String,
        selector: [String: String]? = nil,
        ports: [ServicePort],
        file: String = #filePath, line: Int = #line
    ) {
        self.name = name
        self.selector = selector ?? ["app": name]
        self.ports = ports
        self.at = SourceLocation(file: file, line: line)
    }
}

public struct ServicePort: Codable, Hashable, Sendable {
    public var port: Int
    public var targetPort: Int

    public init(_ port: Int, targetPort: Int? = nil) {
        self.port = port
        self.targetPort = targetPort ?? port
    }

    public static func port(_ port: Int, target: Int? = nil) -> ServicePort {
        ServicePort(port, targetPort: target)
    }
}
