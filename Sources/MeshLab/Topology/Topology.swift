/// A validated lab with every name resolved and every address allocated. Pure data: no kernel yet.
public struct Topology: Codable, Hashable, Sendable {
    public var lab: String
    public var settings: LabSettings
    public var underlay: Underlay
    public var nodes: [NodeInfo]
    public var pods: [PodInfo]
    public var services: [ServiceInfo]
    /// One ztunnel per node, when any namespace is ambient: a pod of its own (istio-system's DaemonSet).
    public var ztunnels: [ZTunnelInfo]
    public var policies: [PolicyInfo]
    /// HTTPRoutes with the namespace they were declared in (their service and backends live there).
    public var routes: [RouteInfo]

    public struct RouteInfo: Codable, Hashable, Sendable {
        public var namespace: String
        public var route: HTTPRoute
    }

    /// A policy with the pods its selector picked (`namespace/name`; empty for namespace-wide policies).
    public struct PolicyInfo: Codable, Hashable, Sendable {
        public var namespace: String
        public var policy: AuthorizationPolicy
        public var selectedPods: [String]
    }

    /// Whether the lab runs a mesh data plane at all.
    public var hasAmbient: Bool { pods.contains { $0.mode == .ambient } }

    public struct ZTunnelInfo: Codable, Hashable, Sendable {
        public var node: String
        public var ip: IPv4
        public var netns: String
        public var hostVeth: String
    }

    public struct Underlay: Codable, Hashable, Sendable {
        public var netns: String
        public var bridge: String
        public var cidr: CIDR
    }

    public struct NodeInfo: Codable, Hashable, Sendable {
        public var name: String
        public var index: Int
        public var netns: String
        public var underlayIP: IPv4
        public var underlayPort: String
        public var podCIDR: CIDR
        /// The address every host-side pod veth on this node carries (the pods' next hop).
        public var gateway: IPv4
    }

    public struct PodInfo: Codable, Hashable, Sendable {
        public var namespace: String
        public var name: String
        public var mode: DataplaneMode
        public var node: String
        public var ip: IPv4
        public var netns: String
        public var hostVeth: String
        public var serviceAccount: String
        public var labels: [String: String]
        public var app: App
        public var at: SourceLocation
        /// The waypoint (`namespace/name`) traffic to this pod goes through.
        public var waypoint: String?

        /// `namespace/name`, how kubectl and MeshLab's CLI name a pod.
        public var id: String { "\(namespace)/\(name)" }
        /// For a waypoint behind ztunnel: the port it takes PROXY protocol on.
        public var waypointProxyPort: Int? { app == .waypoint ? Pod.proxyPort(labels) : nil }
    }

    public struct ServiceInfo: Codable, Hashable, Sendable {
        public var namespace: String
        public var name: String
        public var vip: IPv4
        public var ports: [ServicePort]
        /// Selected pods as `namespace/name`, in declaration order.
        public var endpoints: [String]
        /// The waypoint (`namespace/name`) calls to this service go through.
        public var waypoint: String?

        public var hostname: String { "\(name).\(namespace).svc.cluster.local" }
    }

    /// Validates `spec` and allocates addresses. Throws every validation error at once.
    /// With `previous` (the running lab, for `apply`), pods and services that still exist keep their
    /// addresses and devices; new ones get free ones.
    public init(_ spec: LabSpec, previous: Topology? = nil) throws(LabErrors) {
        let errors = validate(spec)
        guard errors.isEmpty else { throw LabErrors(errors) }
        // Validation guarantees these parse and fit.
        let underlayCIDR = CIDR(spec.settings.underlayCIDR)!
        let podCIDR = CIDR(spec.settings.podCIDR)!
        let serviceCIDR = CIDR(spec.settings.serviceCIDR)!

        lab = spec.name
        settings = spec.settings
        underlay = Underlay(netns: Naming.underlayNetns(lab: spec.name), bridge: Naming.underlayBridge, cidr: underlayCIDR)
        nodes = spec.nodes.enumerated().map { index, node in
            let block = podCIDR.subnet(index, length: spec.settings.nodePodPrefix)!
            return NodeInfo(
                name: node.name, index: index, netns: Naming.nodeNetns(lab: spec.name, node: node.name),
                underlayIP: underlayCIDR.host(index + 1), underlayPort: Naming.underlayPort(nodeIndex: index),
                podCIDR: block, gateway: block.host(1))
        }

        var pods: [PodInfo] = []
        let kept = Dictionary(uniqueKeysWithValues: (previous?.pods ?? []).map { ($0.id, $0) })
        // Addresses and devices of removed pods are not handed out again: the kernel frees a netns
        // (and the veth and route that came with it) asynchronously.
        var usedIPs = Set((previous?.pods ?? []).map(\.ip)), usedVeths = Set((previous?.pods ?? []).map(\.hostVeth))
        var placed: [(Pod, String, String)] = []  // pod, namespace, node
        for namespace in spec.namespaces {
            for pod in namespace.pods {
                let nodeName = pod.node ?? spec.nodes[placed.count % spec.nodes.count].name
                placed.append((pod, namespace.name, nodeName))
            }
        }
        var nextHost = Dictionary(uniqueKeysWithValues: spec.nodes.map { ($0.name, 2) })
        var nextVeth = 0
        for (index, (pod, namespace, nodeName)) in placed.enumerated() {
            let node = nodes.first { $0.name == nodeName }!
            var ip: IPv4, veth: String
            if let old = kept["\(namespace)/\(pod.name)"], old.node == nodeName {
                (ip, veth) = (old.ip, old.hostVeth)
            } else {
                repeat { ip = node.podCIDR.host(nextHost[nodeName]!); nextHost[nodeName]! += 1 } while usedIPs.contains(ip)
                repeat { veth = Naming.hostVeth(podIndex: previous == nil ? index : nextVeth); nextVeth += 1 } while usedVeths.contains(veth)
                usedIPs.insert(ip)
                usedVeths.insert(veth)
            }
            let declared = spec.namespaces.first { $0.name == namespace }!
            // A waypoint is reached over HBONE directly, never captured (unless it sits behind ztunnel);
            // the others use their service account's waypoint, else their namespace's.
            let isWaypoint = pod.app == .waypoint
            let mode: DataplaneMode = isWaypoint ? (pod.waypointProxyPort != nil ? .ambient : .none) : declared.mode
            let waypoint = declared.pods.first { $0.waypointServiceAccount == pod.serviceAccount }?.name ?? declared.waypoint
            pods.append(PodInfo(
                namespace: namespace, name: pod.name, mode: mode, node: nodeName, ip: ip,
                netns: Naming.podNetns(lab: spec.name, namespace: namespace, pod: pod.name),
                hostVeth: veth, serviceAccount: pod.serviceAccount, labels: pod.labels, app: pod.app, at: pod.at,
                waypoint: isWaypoint ? nil : waypoint.map { "\(namespace)/\($0)" }))
        }
        self.pods = pods

        var services: [ServiceInfo] = []
        for namespace in spec.namespaces {
            for service in namespace.services {
                let endpoints = namespace.pods
                    .filter { pod in service.selector.allSatisfy { pod.labels[$0.key] == $0.value } }
                    .map { "\(namespace.name)/\($0.name)" }
                let keptVIP = previous?.services.first { $0.namespace == namespace.name && $0.name == service.name }?.vip
                var vip = keptVIP ?? serviceCIDR.host(services.count + 1)
                let taken = Set(previous?.services.map(\.vip) ?? [])
                var next = services.count + 1
                while keptVIP == nil && (taken.contains(vip) || services.contains { $0.vip == vip }) {
                    next += 1
                    vip = serviceCIDR.host(next)
                }
                services.append(ServiceInfo(namespace: namespace.name, name: service.name, vip: vip, ports: service.ports, endpoints: endpoints,
                                            waypoint: namespace.waypoint.map { "\(namespace.name)/\($0)" }))
            }
        }
        self.services = services

        policies = spec.namespaces.flatMap { namespace in
            namespace.policies.map { policy in
                PolicyInfo(namespace: namespace.name, policy: policy, selectedPods: policy.selector.map { selector in
                    namespace.pods.filter { pod in selector.allSatisfy { pod.labels[$0.key] == $0.value } }.map { "\(namespace.name)/\($0.name)" }
                } ?? [])
            }
        }

        routes = spec.namespaces.flatMap { namespace in namespace.routes.map { RouteInfo(namespace: namespace.name, route: $0) } }

        let meshed = spec.namespaces.contains { $0.mode == .ambient }
        ztunnels = meshed ? nodes.map { node in
            // The block's last usable address, so app pods keep their addresses with or without a mesh.
            ZTunnelInfo(node: node.name, ip: node.podCIDR.host(Int(node.podCIDR.size) - 2),
                        netns: Naming.ztunnelNetns(lab: spec.name, node: node.name), hostVeth: Naming.ztunnelVeth(nodeIndex: node.index))
        } : []
    }

    public func node(named name: String) -> NodeInfo? { nodes.first { $0.name == name } }
    public func pod(_ id: String) -> PodInfo? { pods.first { $0.id == id } }
    /// The waypoint pods (`namespace/name`).
    public var waypoints: [String] { pods.filter { $0.app == .waypoint }.map(\.id) }
    /// The pods of sidecar namespaces (`namespace/name`), each with its own sidecar proxy.
    public var sidecars: [String] { pods.filter { $0.mode == .sidecar }.map(\.id) }
    /// Every proxy besides the ztunnels that takes mesh config: waypoints and sidecars, by role.
    public var proxies: [(role: Naming.ProxyRole, pod: String)] { waypoints.map { (.waypoint, $0) } + sidecars.map { (.sidecar, $0) } }
}
