import NIOHTTP1

/// How a waypoint routes a request: the first HTTPRoute rule that matches it, the backend a
/// weighted rule picks next, and whether the rule's faults hit this request. Picks and faults are
/// deterministic (smooth weighted round robin; every n-th request for a percentage), so a lab can
/// count them exactly. State is kept per rule and starts over when the rule changes (what it does, not
/// where the lab wrote it: the dataplane's rules carry no source location).
final class RouteTable {
    struct Decision {
        /// `namespace/name#rule` of the rule taken; nil when no route applies.
        var rule: String?
        /// Where the request goes instead of the service it was sent to.
        var backend: (service: MeshService, port: Int)?
        var abortStatus: Int?
        var delayMilliseconds: Int?
        var timeoutMilliseconds: Int?
        var retries = 0
    }

    private struct RuleState {
        var rule: HTTPRouteRule
        var current: [Int]
        var delayed = 0, aborted = 0, seen = 0
    }

    private var states: [String: RuleState] = [:]
    private var regexes: [String: Regex<AnyRegexOutput>] = [:]

    func decide(_ request: HTTPRequestHead, to service: MeshService?, port: Int, in mesh: MeshIndex) -> Decision {
        guard let service, let route = mesh.route(for: service.hostname),
              let index = route.rules.firstIndex(where: { matches($0, request) }) else { return Decision() }
        let rule = route.rules[index]
        let key = "\(route.name)#\(index)"
        if states[key]?.rule != rule { states[key] = RuleState(rule: rule, current: rule.backendRefs.map { _ in 0 }) }
        var decision = Decision(rule: key, timeoutMilliseconds: rule.timeoutMilliseconds, retries: rule.retries)
        states[key]!.seen += 1
        let seen = states[key]!.seen
        if let fault = rule.fault {
            if let delay = fault.delay, Self.hits(delay.percentage, request: seen) { decision.delayMilliseconds = delay.fixedDelayMilliseconds }
            if let abort = fault.abort, Self.hits(abort.percentage, request: seen) { decision.abortStatus = abort.httpStatus }
        }
        if let pick = pickBackend(key), let target = mesh.service(hostname: "\(rule.backendRefs[pick].name).\(route.namespace).svc.cluster.local") {
            decision.backend = (target, rule.backendRefs[pick].port ?? port)
        }
        return decision
    }

    /// Smooth weighted round robin (nginx's): each pick adds every weight to its backend's score,
    /// takes the highest score and takes the total off it. Weights 3:1 give A A B A, repeating.
    private func pickBackend(_ key: String) -> Int? {
        let weights = states[key]!.rule.backendRefs.map(\.weight)
        guard weights.contains(where: { $0 > 0 }) else { return nil }
        for index in weights.indices { states[key]!.current[index] += weights[index] }
        let current = states[key]!.current
        let pick = current.indices.max { current[$0] < current[$1] || (current[$0] == current[$1] && $0 > $1) }!  // ties: the first
        states[key]!.current[pick] -= weights.reduce(0, +)
        return pick
    }

    /// Whether the n-th request (from 1) is among `percent` of requests, spread evenly: it is when
    /// n·p/100 passes a whole number.
    static func hits(_ percent: Double, request n: Int) -> Bool {
        (Double(n) * percent / 100).rounded(.down) > (Double(n - 1) * percent / 100).rounded(.down)
    }

    private func matches(_ rule: HTTPRouteRule, _ request: HTTPRequestHead) -> Bool {
        rule.matches.isEmpty || rule.matches.contains { matches($0, request) }
    }

    private func matches(_ match: HTTPRouteMatch, _ request: HTTPRequestHead) -> Bool {
        let path = String(request.uri.prefix { $0 != "?" })
        switch (match.path?.type, match.path?.value ?? "") {
        case (.exact?, let exact): if path != exact { return false }
        case (.pathPrefix?, let prefix):
            let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
            if !(trimmed.isEmpty || path == trimmed || path.hasPrefix(trimmed + "/")) { return false }
        case (.regularExpression?, let pattern): if !wholeMatch(pattern, path) { return false }
        case (nil, _): break
        }
        if let method = match.method, method.uppercased() != request.method.rawValue { return false }
        return match.headers.allSatisfy { header in
            let values = request.headers[canonicalForm: header.name]
            switch header.type {
            case .exact: return values.contains { $0 == header.value }
            case .regularExpression: return values.contains { wholeMatch(header.value, String($0)) }
            }
        }
    }

    private func wholeMatch(_ pattern: String, _ text: String) -> Bool {
        if regexes[pattern] == nil { regexes[pattern] = try? Regex(pattern) }  // validated when the lab was loaded
        guard let regex = regexes[pattern] else { return false }
        return (try? regex.wholeMatch(in: text)) != nil
    }
}
