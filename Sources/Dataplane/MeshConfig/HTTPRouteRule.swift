/// One HTTPRoute rule as a waypoint applies it (Gateway API's HTTPRouteRule, with Istio's retries
/// and fault injection): any of its matches (none: every request), then faults, then a weighted
/// pick among its backends (none: the route's own service), with a timeout and retries. Only what
/// routing needs: where the rule was written is the lab's business, so a rule that only moved in
/// its file is the same rule here.
public struct HTTPRouteRule: Codable, Hashable, Sendable {
    public var matches: [HTTPRouteMatch]
    public var backendRefs: [HTTPBackendRef]
    public var fault: HTTPFaultInjection?
    /// Milliseconds the upstream has to answer before the waypoint answers 504 itself.
    public var timeoutMilliseconds: Int?
    /// Further attempts after a connect failure, a reset or a 503 (Istio's default retry conditions).
    public var retries: Int

    public init(matches: [HTTPRouteMatch] = [], backendRefs: [HTTPBackendRef] = [], fault: HTTPFaultInjection? = nil,
                timeoutMilliseconds: Int? = nil, retries: Int = 0) {
        (self.matches, self.backendRefs, self.fault) = (matches, backendRefs, fault)
        (self.timeoutMilliseconds, self.retries) = (timeoutMilliseconds, retries)
    }
}

/// What a request must carry; every field given must match (path AND method AND each header).
public struct HTTPRouteMatch: Codable, Hashable, Sendable {
    public var path: HTTPPathMatch?
    public var method: String?
    public var headers: [HTTPHeaderMatch]

    public init(path: HTTPPathMatch? = nil, method: String? = nil, headers: [HTTPHeaderMatch] = []) {
        (self.path, self.method, self.headers) = (path, method, headers)
    }
}

/// Gateway API's path match. `PathPrefix` matches whole segments: `/api` matches `/api` and
/// `/api/v1`, not `/apis`.
public struct HTTPPathMatch: Codable, Hashable, Sendable {
    public enum MatchType: String, Codable, Hashable, Sendable {
        case exact = "Exact", pathPrefix = "PathPrefix", regularExpression = "RegularExpression"
    }

    public var type: MatchType
    public var value: String

    public init(_ type: MatchType, _ value: String) { (self.type, self.value) = (type, value) }
}

/// Gateway API's header match: the named header (any of its values) equals or wholly matches `value`.
public struct HTTPHeaderMatch: Codable, Hashable, Sendable {
    public enum MatchType: String, Codable, Hashable, Sendable {
        case exact = "Exact", regularExpression = "RegularExpression"
    }

    public var type: MatchType
    public var name: String
    public var value: String

    public init(_ type: MatchType, name: String, value: String) { (self.type, self.name, self.value) = (type, name, value) }
}

/// A service in the route's namespace that requests may go to, with its share of them.
public struct HTTPBackendRef: Codable, Hashable, Sendable {
    /// The service's name.
    public var name: String
    /// The port on that service; nil: the port the request was made to.
    public var port: Int?
    public var weight: Int

    public init(name: String, port: Int? = nil, weight: Int = 1) { (self.name, self.port, self.weight) = (name, port, weight) }
}

/// Istio's HTTPFaultInjection: delay some requests, answer some with an error status instead of
/// sending them upstream; a percentage is applied to every n-th request, so counts are exact.
public struct HTTPFaultInjection: Codable, Hashable, Sendable {
    public struct Delay: Codable, Hashable, Sendable {
        public var fixedDelayMilliseconds: Int
        public var percentage: Double

        public init(fixedDelayMilliseconds: Int, percentage: Double) { (self.fixedDelayMilliseconds, self.percentage) = (fixedDelayMilliseconds, percentage) }
    }

    public struct Abort: Codable, Hashable, Sendable {
        public var httpStatus: Int
        public var percentage: Double

        public init(httpStatus: Int, percentage: Double) { (self.httpStatus, self.percentage) = (httpStatus, percentage) }
    }

    public var delay: Delay?
    public var abort: Abort?

    public init(delay: Delay? = nil, abort: Abort? = nil) { (self.delay, self.abort) = (delay, abort) }
}
