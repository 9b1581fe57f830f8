/// An L4 authorization policy as ztunnel receives it (its `Authorization` resource; labs declare `AuthorizationPolicy`).
/// Rules OR; clauses in a rule AND; matches in a clause OR; inside one match, different fields AND
/// and the values of one field OR; `not*` fields: none may match. A policy with no rules never matches.
public struct Authorization: Codable, Hashable, Sendable {
    public enum Scope: String, Codable, Hashable, Sendable {
        case global = "GLOBAL"
        case namespace = "NAMESPACE"
        case workloadSelector = "WORKLOAD_SELECTOR"
    }

    public enum Action: String, Codable, Hashable, Sendable {
        case allow = "ALLOW"
        case deny = "DENY"
    }

    public var name: String
    public var namespace: String
    public var scope: Scope
    /// For `workloadSelector`: the uids of the selected workloads.
    public var workloads: [String]
    public var action: Action
    public var dryRun: Bool
    public var rules: [Rule]
    /// The waypoint (`namespace/name`) that enforces it at L7; nil: ztunnel enforces it at L4.
    public var waypoint: String?

    public init(name: String, namespace: String, scope: Scope, workloads: [String] = [], action: Action,
                dryRun: Bool = false, rules: [Rule], waypoint: String? = nil) {
        self.waypoint = waypoint
        self.name = name
        self.namespace = namespace
        self.scope = scope
        self.workloads = workloads
        self.action = action
        self.dryRun = dryRun
        self.rules = rules
    }

    /// `namespace/name`, as decisions cite it.
    public var key: String { "\(namespace)/\(name)" }

    public struct Rule: Codable, Hashable, Sendable {
        public var clauses: [Clause]
        public init(_ clauses: [Clause]) { self.clauses = clauses }
    }

    public struct Clause: Codable, Hashable, Sendable {
        public var matches: [Match]
        public init(_ matches: [Match]) { self.matches = matches }
    }

    public struct Match: Codable, Hashable, Sendable {
        public var namespaces: [String] = []
        public var notNamespaces: [String] = []
        /// `namespace/name`: ztunnel's ServiceAccountMatch compares both, never a name alone.
        public var serviceAccounts: [String] = []
        public var notServiceAccounts: [String] = []
        /// Istio principals: `<trust-domain>/ns/<ns>/sa/<sa>`, with an optional leading or trailing `*`.
        public var principals: [String] = []
        public var notPrincipals: [String] = []
        /// CIDRs or plain addresses.
        public var sourceIPs: [String] = []
        public var notSourceIPs: [String] = []
        public var destinationIPs: [String] = []
        public var notDestinationIPs: [String] = []
        public var destinationPorts: [Int] = []
        public var notDestinationPorts: [Int] = []
        /// L7, at a waypoint: HTTP methods, and paths (exact, `prefix*` or `*suffix`).
        public var methods: [String] = []
        public var notMethods: [String] = []
        public var paths: [String] = []
        public var notPaths: [String] = []

        public init() {}
    }
}
