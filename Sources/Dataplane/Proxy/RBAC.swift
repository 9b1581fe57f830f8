/// What authorization sees of a connection. Plaintext (15006) connections carry no identity.
public struct ConnectionFacts: Sendable {
    public var sourceIdentity: SpiffeID?
    public var sourceIP: String
    public var destinationIP: String
    public var destinationPort: Int
    public var destination: Workload
    /// At a waypoint, the HTTP request's method and path; nil at L4.
    public var method: String?
    public var path: String?

    public init(sourceIdentity: SpiffeID?, sourceIP: String, destinationIP: String, destinationPort: Int, destination: Workload,
                method: String? = nil, path: String? = nil) {
        self.method = method
        self.path = path
        self.sourceIdentity = sourceIdentity
        self.sourceIP = sourceIP
        self.destinationIP = destinationIP
        self.destinationPort = destinationPort
        self.destination = destination
    }
}

/// An authorization decision and why, in the words ztunnel logs.
public struct Decision: Hashable, Sendable, Codable {
    public var allowed: Bool
    /// `ns/name` of the deciding policy, when one decided.
    public var policy: String?
    public var reason: String
    /// Dry-run policies that would have matched (logged, never enforced).
    public var dryRunMatches: [String] = []

    static func allow(_ reason: String, policy: String? = nil) -> Decision { Decision(allowed: true, policy: policy, reason: reason) }
    static func deny(_ reason: String, policy: String? = nil) -> Decision { Decision(allowed: false, policy: policy, reason: reason) }
}

/// Evaluates L4 authorization in the reference order: dry-run policies are only logged; any matching
/// DENY denies; with no ALLOW policies the connection is allowed; a matching ALLOW allows; else denied.
public func authorize(_ facts: ConnectionFacts, policies: [Authorization]) -> Decision {
    let applicable = policies.filter { policy in
        switch policy.scope {
        case .global: true
        case .namespace: policy.namespace == facts.destination.namespace
        case .workloadSelector: policy.workloads.contains(facts.destination.uid)
        }
    }
    let dryRun = applicable.filter { $0.dryRun && $0.matches(facts) }.map(\.key)
    let enforced = applicable.filter { !$0.dryRun }
    var decision: Decision
    if let deny = enforced.first(where: { $0.action == .deny && $0.matches(facts) }) {
        decision = .deny("explicitly denied by \(deny.key)", policy: deny.key)
    } else {
        let allows = enforced.filter { $0.action == .allow }
        if allows.isEmpty {
            decision = .allow("no allow policies")
        } else if let allow = allows.first(where: { $0.matches(facts) }) {
            decision = .allow("allowed by \(allow.key)", policy: allow.key)
        } else {
            decision = .deny("allow policies exist, but none allowed")
        }
    }
    decision.dryRunMatches = dryRun
    return decision
}

extension Authorization {
    /// As ztunnel evaluates a policy (src/rbac.rs): no rules match nothing; a rule matches when all its
    /// clauses do; a clause with no matches matches everything, otherwise one of its matches must;
    /// a match with no field set is skipped (it matches nothing).
    func matches(_ facts: ConnectionFacts) -> Bool {
        rules.contains { rule in
            rule.clauses.allSatisfy { clause in
                clause.matches.isEmpty || clause.matches.contains { !$0.isEmpty && $0.matches(facts, deny: action == .deny) }
            }
        }
    }
}

extension Authorization.Match {
    /// No field set: ztunnel skips such a match (istiod never sends one; a lab can declare it).
    var isEmpty: Bool {
        [namespaces, notNamespaces, serviceAccounts, notServiceAccounts, principals, notPrincipals, sourceIPs, notSourceIPs,
         destinationIPs, notDestinationIPs, methods, notMethods, paths, notPaths].allSatisfy(\.isEmpty)
            && destinationPorts.isEmpty && notDestinationPorts.isEmpty
    }

    func matches(_ facts: ConnectionFacts, deny: Bool) -> Bool {
        let identity = facts.sourceIdentity
        return Self.field(namespaces, notNamespaces, identity.map { id in { Self.principal($0, matches: id.namespace) } })
            && Self.field(serviceAccounts, notServiceAccounts, identity.map { id in { $0 == "\(id.namespace)/\(id.serviceAccount)" } })
            && Self.field(principals, notPrincipals, identity.map { id in { Self.principal($0, matches: id.principal) } })
            && Self.field(sourceIPs, notSourceIPs, { Self.address(facts.sourceIP, in: $0) })
            && Self.field(destinationIPs, notDestinationIPs, { Self.address(facts.destinationIP, in: $0) })
            && Self.field(destinationPorts, notDestinationPorts, { $0 == facts.destinationPort })
            && Self.http(methods, notMethods, facts.method, deny: deny) { $0 == $1 }
            && Self.http(paths, notPaths, facts.path, deny: deny) { Self.principal($0, matches: $1) }  // same wildcard rules
    }

    /// An HTTP field. Where only L4 is known (ztunnel; a sidecar's non-HTTP traffic), Istio's rule for L7
    /// attributes: a DENY ignores them (denying more), an ALLOW with them matches nothing (allowing less).
    private static func http(_ positive: [String], _ negative: [String], _ value: String?, deny: Bool,
                             _ test: @escaping (String, String) -> Bool) -> Bool {
        guard let value else { return deny || (positive.isEmpty && negative.isEmpty) }
        return field(positive, negative, { test($0, value) })
    }

    /// One field: some positive value matches (when any are given) and no negative value does.
    /// `test` is nil when the fact is unknown (no identity): positives then fail, negatives hold.
    private static func field<Value>(_ positive: [Value], _ negative: [Value], _ test: ((Value) -> Bool)?) -> Bool {
        guard let test else { return positive.isEmpty }
        return (positive.isEmpty || positive.contains(where: test)) && !negative.contains(where: test)
    }

    /// ztunnel's StringMatch, in Istio's notation: `*` (presence: any non-empty value), `prefix*`,
    /// `*suffix`, or exact. Principals, namespaces and HTTP paths match this way.
    static func principal(_ pattern: String, matches principal: String) -> Bool {
        if pattern == "*" { return !principal.isEmpty }
        if pattern.hasPrefix("*") { return principal.hasSuffix(pattern.dropFirst()) }
        if pattern.hasSuffix("*") { return principal.hasPrefix(pattern.dropLast()) }
        return pattern == principal
    }

    static func address(_ ip: String, in cidr: String) -> Bool {
        guard let address = IPv4Number(ip) else { return false }
        let parts = cidr.split(separator: "/")
        guard let network = IPv4Number(String(parts[0])) else { return false }
        let prefix = parts.count == 2 ? Int(parts[1]) ?? 32 : 32
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        return address & mask == network & mask
    }
}

/// Dotted-quad to number (the data plane does not import the lab language's IPv4 type).
func IPv4Number(_ text: String) -> UInt32? {
    let octets = text.split(separator: ".").compactMap { UInt8($0) }
    guard octets.count == 4 else { return nil }
    return octets.reduce(0) { $0 << 8 | UInt32($1) }
}
