/// A lab as declared: the versioned document a lab file emits (`Lab(...)` builds one).
///
/// This is the input to the pipeline: LabSpec ─validate─▶ Topology ─plan─▶ Plan.
public struct LabSpec: Codable, Hashable, Sendable {
    /// Bumped when the document's shape changes incompatibly.
    public static let currentVersion = "meshlab.dev/v1alpha1"

    public var apiVersion: String
    public var name: String
    public var settings: LabSettings
    public var nodes: [Node]
    public var namespaces: [Namespace]
    /// What `meshlab test` proves about the lab.
    public var checks: [Check]
    public var at: SourceLocation

    public init(
        _ name: String,
        settings: LabSettings = LabSettings(),
        file: String = #filePath, line: Int = #line,
        @LabBuilder _ content: () -> [LabItem]
    ) {
        self.apiVersion = Self.currentVersion
        self.name = name
        self.settings = settings
        self.at = SourceLocation(file: file, line: line)
        self.nodes = []
        self.namespaces = []
        self.checks = []
        for item in content() {
            switch item {
            case .node(let node): nodes.append(node)
            case .namespace(let namespace): namespaces.append(namespace)
            case .check(let check): checks.append(check)
            }
        }
        LabRegistry.declare(self)
    }
}

/// In lab files a lab reads as `Lab("name") { … }`.
public typealias Lab = LabSpec

/// Lab-wide settings; the defaults give a lab that needs no thought about addressing.
public struct LabSettings: Codable, Hashable, Sendable {
    /// SPIFFE trust domain of the lab's mesh identities.
    public var trustDomain: String
    /// Pod addresses; each node gets one block of `nodePodPrefix` bits from it.
    public var podCIDR: String
    public var nodePodPrefix: Int
    /// Service VIPs.
    public var serviceCIDR: String
    /// The network between nodes (a bridge in the lab's underlay netns).
    public var underlayCIDR: String
    /// How ambient pods' traffic reaches ztunnel.
    public var redirect: RedirectionMode

    public init(
        trustDomain: String = "cluster.local",
        podCIDR: String = "10.244.0.0/16",
        nodePodPrefix: Int = 24,
        serviceCIDR: String = "10.96.0.0/16",
        underlayCIDR: String = "172.30.0.0/24",
        redirect: RedirectionMode = .inpod
    ) {
        self.redirect = redirect
        self.trustDomain = trustDomain
        self.podCIDR = podCIDR
        self.nodePodPrefix = nodePodPrefix
        self.serviceCIDR = serviceCIDR
        self.underlayCIDR = underlayCIDR
    }

    enum CodingKeys: String, CodingKey { case trustDomain, podCIDR, nodePodPrefix, serviceCIDR, underlayCIDR, redirect }

    /// Documents written before `redirect` existed mean in-pod redirection.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(trustDomain: try container.decode(String.self, forKey: .trustDomain), podCIDR: try container.decode(String.self, forKey: .podCIDR),
                  nodePodPrefix: try container.decode(Int.self, forKey: .nodePodPrefix),
                  serviceCIDR: try container.decode(String.self, forKey: .serviceCIDR),
                  underlayCIDR: try container.decode(String.self, forKey: .underlayCIDR),
                  redirect: try container.decodeIfPresent(RedirectionMode.self, forKey: .redirect) ?? .inpod)
    }
}

/// The redirection modes Istio has shipped.
public enum RedirectionMode: String, Codable, Hashable, Sendable, CaseIterable {
    /// Whether ztunnel listens inside each pod (the in-pod forms) rather than in its own netns.
    public var isInPod: Bool { self == .inpod || self == .inpodTproxy }

    /// Rules inside each ambient pod's netns; ztunnel listens inside the pod (REDIRECT form, Istio ≥ 1.24).
    case inpod
    /// The older in-pod form (Istio 1.21–1.23): inbound TPROXY, with a conntrack ESTABLISHED rule
    /// in front of it that serves every later packet.
    case inpodTproxy = "inpod-tproxy"
    /// Node iptables + Geneve tunnels into ztunnel's netns, TPROXY there (Istio 1.18).
    case iptables
    /// eBPF programs on tc hooks of the pods' and ztunnel's veths (Istio 1.20).
    case ebpf
}
