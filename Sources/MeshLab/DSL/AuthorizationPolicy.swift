/// Istio's AuthorizationPolicy (L4 part), as a lab declares it inside a Namespace:
///
///     AuthorizationPolicy("allow-sleep", action: .allow, selector: ["app": "echo"]) {
///         Rule(from: [.principals(["cluster.local/ns/ambient/sa/sleep"])], to: [.ports([8000])])
///     }
///
/// No selector: the whole namespace. A rule with neither `from` nor `to` matches every connection;
/// a policy with no rules matches none (an ALLOW without rules allows nothing).
public struct AuthorizationPolicy: Codable, Hashable, Sendable {
    public enum Action: String, Codable, Hashable, Sendable { case allow = "ALLOW", deny = "DENY" }

    public var name: String
    public var action: Action
    public var selector: [String: String]?
    public var dryRun: Bool
    /// Enforced by this waypoint (Istio's `targetRefs` to its Gateway), at L7, instead of by ztunnel.
    public var waypoint: String?
    public var rules: [Rule]
    public var at: SourceLocation

    public init(
        _ name: String, action: Action = .allow, selector: [String: String]? = nil, dryRun: Bool = false, waypoint: String? = nil,
        file: String = #filePath, line: Int = #line,
        @RuleBuilder _ rules: () -> [Rule] = { [] }
    ) {
        self.waypoint = waypoint
        self.name = name
        self.action = action
        self.selector = selector
        self.dryRun = dryRun
        self.rules = rules()
        self.at = SourceLocation(file: file, line: line)
    }
}

/// One rule: every `from` source OR-ed, every `to` operation OR-ed, and the two AND-ed.
public struct Rule: Codable, Hashable, Sendable {
    public var from: [Source]
    public var to: [Operation]

    public init(from: [Source] = [], to: [Operation] = []) {
        self.from = from
        self.to = to
    }

    /// Who connects. Fields of one source AND; values of one field OR; `not` fields exclude.
    public struct Source: Codable, Hashable, Sendable {
        public var principals: [String] = []
        public var notPrincipals: [String] = []
        public var namespaces: [String] = []
        public var notNamespaces: [String] = []
        public var ipBlocks: [String] = []
        public var notIpBlocks: [String] = []

        public init(principals: [String] = [], notPrincipals: [String] = [], namespaces: [String] = [],
                    notNamespaces: [String] = [], ipBlocks: [String] = [], notIpBlocks: [String] = []) {
            self.principals = principals
            self.notPrincipals = notPrincipals
            self.namespaces = namespaces
            self.notNamespaces = notNamespaces
            self.ipBlocks = ipBlocks
            self.notIpBlocks = notIpBlocks
        }

        public static func principals(_ values: [String]) -> Source { Source(principals: values) }
        public static func namespaces(_ values: [String]) -> Source { Source(namespaces: values) }
        public static func ipBlocks(_ values: [String]) -> Source { Source(ipBlocks: values) }
    }

    /// What is connected to: destination ports (L4), and at a waypoint HTTP methods and paths
    /// (exact, `prefix*` or `*suffix`).
    public struct Operation: Codable, Hashable, Sendable {
        public var ports: [Int] = []
        public var notPorts: [Int] = []
        public var methods: [String] = []
        public var notMethods: [String] = []
        public var paths: [String] = []
        public var notPaths: [String] = []

        public init(ports: [Int] = [], notPorts: [Int] = [], methods: [String] = [], notMethods: [String] = [],
                    paths: [String] = [], notPaths: [String] = []) {
            self.ports = ports
            self.notPorts = notPorts
            self.methods = methods
            self.notMethods = notMethods
            self.paths = paths
            self.notPaths = notPaths
        }

        public static func ports(_ values: [Int]) -> Operation { Operation(ports: values) }
        public static func methods(_ values: [String]) -> Operation { Operation(methods: values) }
        public static func paths(_ values: [String]) -> Operation { Operation(paths: values) }

        /// Whether only an L7 proxy can evaluate it.
        public var isL7: Bool { !(methods.isEmpty && notMethods.isEmpty && paths.isEmpty && notPaths.isEmpty) }
    }
}

@resultBuilder
public enum RuleBuilder {
    public static func buildExpression(_ rule: Rule) -> [Rule] { [rule] }
    public static func buildBlock(_ parts: [Rule]...) -> [Rule] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[Rule]]) -> [Rule] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [Rule]?) -> [Rule] { part ?? [] }
    public static func buildEither(first part: [Rule]) -> [Rule] { part }
    public static func buildEither(second part: [Rule]) -> [Rule] { part }
}
