/// What each ztunnel knows about the mesh: MeshLab's equivalent of Istio's WDS. Compiled from the
/// lab, pushed to every ztunnel over its config socket, pushed again on every change.
public struct MeshConfig: Codable, Hashable, Sendable {
    public var version: Int
    public var trustDomain: String
    public var workloads: [Workload]
    public var services: [MeshService]
    public var policies: [Authorization]
    /// The HTTPRoutes waypoints apply.
    public var routes: [ServiceRoute]

    public init(version: Int, trustDomain: String, workloads: [Workload], services: [MeshService], policies: [Authorization],
                routes: [ServiceRoute] = []) {
        self.routes = routes
        self.version = version
        self.trustDomain = trustDomain
        self.workloads = workloads
        self.services = services
        self.policies = policies
    }

    /// What ztunnel enforces: the policies no waypoint has taken over.
    public var l4Policies: [Authorization] { policies.filter { $0.waypoint == nil } }
}

/// An HTTPRoute as a waypoint applies it: its rules for one service.
public struct ServiceRoute: Codable, Hashable, Sendable {
    /// `namespace/name`, as logs and metrics name it.
    public var name: String
    public var namespace: String
    /// The service it is bound to, by hostname; backends name services of the same namespace.
    public var service: String
    public var rules: [HTTPRouteRule]

    public init(name: String, namespace: String, service: String, rules: [HTTPRouteRule]) {
        self.name = name
        self.namespace = namespace
        self.service = service
        self.rules = rules
    }
}

/// How traffic reaches a workload: through HBONE (it is in the ambient mesh) or as plain TCP.
public enum TunnelProtocol: String, Codable, Hashable, Sendable {
    case hbone = "HBONE"
    case none = "NONE"
}

public struct Workload: Codable, Hashable, Sendable {
    /// `namespace/name`.
    public var uid: String
    public var name: String
    public var namespace: String
    public var serviceAccount: String
    public var node: String
    public var address: String
    public var tunnel: TunnelProtocol
    /// The pod's network namespace (a name under /run/netns), where in-pod ztunnel listens.
    public var netns: String
    public var labels: [String: String]
    /// The waypoint (`namespace/name`) traffic to it goes through.
    public var waypoint: String?
    /// A sidecar runs in the pod and takes HBONE on its 15008 (Istio's sidecar HBONE): other
    /// sidecars reach it that way, with mutual TLS; ztunnel still sends it plain TCP (Istio 1.18's ambient–sidecar interop).
    public var sidecar: Bool
    /// ztunnel's application tunnel: the port where the workload (a waypoint behind ztunnel) takes
    /// its inbound connections after a PROXY protocol v2 header, instead of the HBONE authority's port.
    public var proxyProtocolPort: Int?

    public init(uid: String, name: String, namespace: String, serviceAccount: String, node: String, address: String,
                tunnel: TunnelProtocol, netns: String, labels: [String: String], waypoint: String? = nil, sidecar: Bool = false,
                proxyProtocolPort: Int? = nil) {
        self.waypoint = waypoint
        self.sidecar = sidecar
        self.proxyProtocolPort = proxyProtocolPort
        self.uid = uid
        self.name = name
        self.namespace = namespace
        self.serviceAccount = serviceAccount
        self.node = node
        self.address = address
        self.tunnel = tunnel
        self.netns = netns
        self.labels = labels
    }

    public func identity(trustDomain: String) -> SpiffeID {
        SpiffeID(trustDomain: trustDomain, namespace: namespace, serviceAccount: serviceAccount)
    }
}

public struct MeshService: Codable, Hashable, Sendable {
    public struct Port: Codable, Hashable, Sendable {
        public var port: Int
        public var targetPort: Int

        public init(port: Int, targetPort: Int) {
            self.port = port
            self.targetPort = targetPort
        }
    }

    public var name: String
    public var namespace: String
    public var hostname: String
    public var vips: [String]
    public var ports: [Port]
    /// Workload uids behind the service.
    public var endpoints: [String]
    /// The waypoint (`namespace/name`) calls to it go through.
    public var waypoint: String?

    public init(name: String, namespace: String, hostname: String, vips: [String], ports: [Port], endpoints: [String], waypoint: String? = nil) {
        self.waypoint = waypoint
        self.name = name
        self.namespace = namespace
        self.hostname = hostname
        self.vips = vips
        self.ports = ports
        self.endpoints = endpoints
    }
}
