import Dataplane
import XCTest

/// The L4 authorization table: evaluation order and match semantics as the reference states them.
final class AuthorizationTests: XCTestCase {
    let echo = Workload(uid: "apps/echo", name: "echo", namespace: "apps", serviceAccount: "echo", node: "a",
                        address: "10.0.0.3", tunnel: .hbone, netns: "x", labels: [:])
    let sleep = SpiffeID(trustDomain: "cluster.local", namespace: "apps", serviceAccount: "sleep")
    let other = SpiffeID(trustDomain: "cluster.local", namespace: "other", serviceAccount: "client")

    func facts(_ identity: SpiffeID?, port: Int = 8000, from ip: String = "10.0.0.2") -> ConnectionFacts {
        ConnectionFacts(sourceIdentity: identity, sourceIP: ip, destinationIP: echo.address, destinationPort: port, destination: echo)
    }

    func policy(_ name: String, _ action: Authorization.Action, scope: Authorization.Scope = .namespace,
                namespace: String = "apps", dryRun: Bool = false, _ match: Authorization.Match?) -> Authorization {
        Authorization(name: name, namespace: namespace, scope: scope, workloads: scope == .workloadSelector ? ["apps/echo"] : [],
                            action: action, dryRun: dryRun, rules: match.map { [.init([.init([$0])])] } ?? [])
    }

    func principals(_ values: [String]) -> Authorization.Match {
        var match = Authorization.Match()
        match.principals = values
        return match
    }

    func testNoPoliciesAllows() {
        let decision = authorize(facts(sleep), policies: [])
        XCTAssertTrue(decision.allowed)
        XCTAssertNil(decision.policy)
        XCTAssertEqual(decision.reason, "no allow policies")
    }

    func testAllowForOnePrincipalRefusesAnother() {
        let policies = [policy("allow-sleep", .allow, principals(["cluster.local/ns/apps/sa/sleep"]))]
        XCTAssertEqual(authorize(facts(sleep), policies: policies).policy, "apps/allow-sleep")
        let denied = authorize(facts(other), policies: policies)
        XCTAssertFalse(denied.allowed)
        XCTAssertEqual(denied.reason, "allow policies exist, but none allowed")
    }

    func testDenyWinsOverAllow() {
        let policies = [
            Authorization(name: "allow-all", namespace: "apps", scope: .namespace, action: .allow, rules: [.init([])]),  // `rules: [{}]`
            policy("deny-sleep", .deny, principals(["cluster.local/ns/apps/sa/sleep"])),
        ]
        let decision = authorize(facts(sleep), policies: policies)
        XCTAssertFalse(decision.allowed)
        XCTAssertEqual(decision.policy, "apps/deny-sleep")
        XCTAssertEqual(decision.reason, "explicitly denied by apps/deny-sleep")
        XCTAssertTrue(authorize(facts(other), policies: policies).allowed)
    }

    func testPolicyWithoutRulesNeverMatches() {
        XCTAssertTrue(authorize(facts(sleep), policies: [policy("empty-deny", .deny, nil)]).allowed)
        XCTAssertFalse(authorize(facts(sleep), policies: [policy("empty-allow", .allow, nil)]).allowed)
    }

    func testNotFieldsExcludeMatches() {
        var match = Authorization.Match()
        match.notNamespaces = ["apps"]
        let policies = [policy("deny-outsiders", .deny, match)]
        XCTAssertTrue(authorize(facts(sleep), policies: policies).allowed)
        XCTAssertFalse(authorize(facts(other), policies: policies).allowed)
    }

    func testPlaintextHasNoIdentity() {
        // Identity fields cannot match plaintext: an ALLOW by principal refuses it...
        XCTAssertFalse(authorize(facts(nil), policies: [policy("allow-sleep", .allow, principals(["cluster.local/ns/apps/sa/sleep"]))]).allowed)
        // ...and a DENY of everyone but a principal denies it.
        var match = Authorization.Match()
        match.notPrincipals = ["cluster.local/ns/apps/sa/sleep"]
        XCTAssertFalse(authorize(facts(nil), policies: [policy("only-sleep", .deny, match)]).allowed)
        XCTAssertTrue(authorize(facts(sleep), policies: [policy("only-sleep", .deny, match)]).allowed)
    }

    func testFieldsAndValuesCombine() {
        var match = Authorization.Match()
        match.namespaces = ["apps", "tools"]     // values of one field: OR
        match.destinationPorts = [9000]          // different fields: AND
        let policies = [policy("port-9000", .allow, match)]
        XCTAssertTrue(authorize(facts(sleep, port: 9000), policies: policies).allowed)
        XCTAssertFalse(authorize(facts(sleep, port: 8000), policies: policies).allowed)
        XCTAssertFalse(authorize(facts(other, port: 9000), policies: policies).allowed)
    }

    func testClausesAndRulesCombine() {
        var fromApps = Authorization.Match()
        fromApps.namespaces = ["apps"]
        var toPort = Authorization.Match()
        toPort.destinationPorts = [8000]
        var fromOther = Authorization.Match()
        fromOther.namespaces = ["other"]
        // Rule 1: (from apps) AND (to 8000); Rule 2: from other. Rules OR.
        let allow = Authorization(name: "p", namespace: "apps", scope: .namespace, action: .allow, rules: [
            .init([.init([fromApps]), .init([toPort])]), .init([.init([fromOther])]),
        ])
        XCTAssertTrue(authorize(facts(sleep, port: 8000), policies: [allow]).allowed)
        XCTAssertFalse(authorize(facts(sleep, port: 9000), policies: [allow]).allowed)
        XCTAssertTrue(authorize(facts(other, port: 9000), policies: [allow]).allowed)
    }

    func testSourceCIDRsAndPrincipalWildcards() {
        var match = Authorization.Match()
        match.sourceIPs = ["10.0.0.0/24"]
        match.principals = ["cluster.local/ns/apps/*"]
        let policies = [policy("p", .allow, match)]
        XCTAssertTrue(authorize(facts(sleep, from: "10.0.0.9"), policies: policies).allowed)
        XCTAssertFalse(authorize(facts(sleep, from: "10.0.1.9"), policies: policies).allowed)
    }

    /// ztunnel's rbac.rs: a match with no field set is skipped; a clause with no match matches.
    func testEmptyMatchesMatchNothingAndEmptyClausesMatchEverything() {
        let emptyMatch = policy("empty-match", .allow, Authorization.Match())
        XCTAssertFalse(authorize(facts(sleep), policies: [emptyMatch]).allowed, "an allow whose only match is empty allows nobody")
        let emptyClause = Authorization(name: "empty-clause", namespace: "apps", scope: .namespace, action: .deny,
                                        rules: [.init([.init([])])])
        XCTAssertEqual(authorize(facts(sleep), policies: [emptyClause]).policy, "apps/empty-clause", "a clause with no match matches")
        var port = Authorization.Match()
        port.destinationPorts = [8000]
        let mixed = Authorization(name: "mixed", namespace: "apps", scope: .namespace, action: .allow,
                                  rules: [.init([.init([Authorization.Match(), port])])])
        XCTAssertTrue(authorize(facts(sleep), policies: [mixed]).allowed, "the empty match is skipped, the other still matches")
    }

    /// Namespaces match as ztunnel's StringMatch does: exact, `prefix*`, `*suffix`, and `*` (presence).
    func testNamespacesMatchLikeStrings() {
        func namespaces(_ values: [String]) -> Authorization.Match {
            var match = Authorization.Match()
            match.namespaces = values
            return match
        }
        for (pattern, allowsSleep) in [("apps", true), ("ap*", true), ("*ps", true), ("*", true), ("other", false), ("app", false)] {
            let policies = [policy("ns", .allow, namespaces([pattern]))]
            XCTAssertEqual(authorize(facts(sleep), policies: policies).allowed, allowsSleep, pattern)
        }
        XCTAssertFalse(authorize(facts(nil), policies: [policy("ns", .allow, namespaces(["*"]))]).allowed, "presence needs an identity")
        var notAny = Authorization.Match()
        notAny.notNamespaces = ["*"]
        XCTAssertTrue(authorize(facts(nil), policies: [policy("plain", .allow, notAny)]).allowed, "plaintext has no namespace to exclude")
        XCTAssertFalse(authorize(facts(sleep), policies: [policy("plain", .allow, notAny)]).allowed)
    }

    /// ztunnel's ServiceAccountMatch: the namespace and the name, both; no identity, no match.
    func testServiceAccountsMatchNamespaceAndName() {
        var match = Authorization.Match()
        match.serviceAccounts = ["apps/sleep"]
        let policies = [policy("sa", .allow, match)]
        XCTAssertTrue(authorize(facts(sleep), policies: policies).allowed)
        XCTAssertFalse(authorize(facts(SpiffeID(trustDomain: "cluster.local", namespace: "other", serviceAccount: "sleep")), policies: policies).allowed,
                       "the same name in another namespace is another service account")
        XCTAssertFalse(authorize(facts(nil), policies: policies).allowed)
    }

    func testDryRunIsOnlyLogged() {
        let decision = authorize(facts(sleep), policies: [policy("would-deny", .deny, dryRun: true, principals(["*"]))])
        XCTAssertTrue(decision.allowed)
        XCTAssertEqual(decision.dryRunMatches, ["apps/would-deny"])
    }

    func testScopes() {
        let elsewhere = policy("elsewhere", .deny, namespace: "other", principals(["*"]))
        XCTAssertTrue(authorize(facts(sleep), policies: [elsewhere]).allowed)
        let global = policy("global", .deny, scope: .global, namespace: "istio-system", principals(["*"]))
        XCTAssertFalse(authorize(facts(sleep), policies: [global]).allowed)
        let selected = policy("selected", .deny, scope: .workloadSelector, principals(["*"]))
        XCTAssertFalse(authorize(facts(sleep), policies: [selected]).allowed)
    }

    /// At a waypoint, methods and paths join the match; at L4 (no request) a DENY ignores them and an
    /// ALLOW with them matches nothing (Istio's rule for L7 attributes at L4: fail closed both ways).
    func testL7MethodsAndPathsMatchAtAWaypointOnly() {
        var match = Authorization.Match()
        match.methods = ["DELETE"]
        match.paths = ["/admin*"]
        let deny = policy("no-admin-delete", .deny, match)
        func request(_ method: String, _ path: String) -> ConnectionFacts {
            ConnectionFacts(sourceIdentity: sleep, sourceIP: "10.0.0.2", destinationIP: echo.address, destinationPort: 8000, destination: echo,
                            method: method, path: path)
        }
        XCTAssertFalse(authorize(request("DELETE", "/admin/users"), policies: [deny]).allowed)
        XCTAssertTrue(authorize(request("DELETE", "/public"), policies: [deny]).allowed)
        XCTAssertTrue(authorize(request("GET", "/admin/users"), policies: [deny]).allowed)
        let l4 = authorize(facts(sleep), policies: [deny])
        XCTAssertFalse(l4.allowed, "no request at L4: the DENY drops its HTTP fields and denies more")
        XCTAssertEqual(l4.policy, "apps/no-admin-delete")
        var get = Authorization.Match()
        get.methods = ["GET"]
        let allowGet = authorize(facts(sleep), policies: [policy("get-only", .allow, get)])
        XCTAssertFalse(allowGet.allowed, "an ALLOW of GET cannot allow what is not a request")
        XCTAssertEqual(allowGet.reason, "allow policies exist, but none allowed")
        var notDelete = Authorization.Match()
        notDelete.notMethods = ["DELETE"]
        XCTAssertFalse(authorize(facts(sleep), policies: [policy("not-delete", .allow, notDelete)]).allowed, "a not_ HTTP field is L7 too")
        let config = MeshConfig(version: 1, trustDomain: "cluster.local", workloads: [echo], services: [],
                                policies: [deny, Authorization(name: "wp", namespace: "apps", scope: .namespace, action: .deny, rules: [], waypoint: "apps/waypoint")])
        XCTAssertEqual(config.l4Policies.map(\.name), ["no-admin-delete"], "ztunnel leaves a waypoint's policies to it")
    }
}
