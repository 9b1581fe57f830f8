/// A Kubernetes-style namespace and how its pods join the mesh.
public struct Namespace: Codable, Hashable, Sendable {
    public var name: String
    public var mode: DataplaneMode
    public var pods: [Pod]
    public var services: [Service]
    public var policies: [AuthorizationPolicy]
    public var routes: [HTTPRoute]
    /// The waypoint its workloads and services use (`istio.io/use-waypoint`), a Waypoint declared in it.
    public var waypoint: String?
    public var at: SourceLocation

    public init(
        _ name: String, mode: DataplaneMode = .none, waypoint: String? = nil,
        file: String = #filePath, line: Int = #line,
        @NamespaceBuilder _ content: () -> [NamespaceItem] = { [] }
    ) {
        self.name = name
        self.mode = mode
        self.waypoint = waypoint
        self.at = SourceLocation(file: file, line: line)
        self.pods = []
        self.services = []
        self.policies = []
        self.routes = []
        for item in content() {
            switch item {
            case .pod(let pod): pods.append(pod)
            case .service(let service): services.append(service)
            case .policy(let policy): policies.append(policy)
            case .route(let route): routes.append(route)
            }
        }
    }
}

/// The namespace label Istio reads: `istio.io/dataplane-mode=ambient`, `istio-injection=enabled`, or neither.
public enum DataplaneMode: String, Codable, Hashable, Sendable, CaseIterable {
    case ambient
    case sidecar
    case none

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let mode = DataplaneMode(rawValue: text) else {
            let known = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "unknown data-plane mode '\(text)': use one of \(known)"))
        }
        self = mode
    }
}
