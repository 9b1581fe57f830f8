/// One HTTPRoute rule as a waypoint applies it (Gateway API's HTTPRouteRule): any of its matches
/// (none: every request), then faults, then a weighted pick among its backends (none: the route's
/// own service), with a timeout and retries. Only what routing needs: where the rule was written
/// is the lab's business, so a rule that only moved in its file is the same rule here.
public struct HTTPRouteRule: Codable, Hashable, Sendable {
    public var matches: [HTTPRouteMatch]
    public var backends: [HTTPBackendRef]
    public var fault: HTTPFaultInjection?
    /// Milliseconds the upstream has to answer before the waypoint answers 504 itself.
    public var timeoutMilliseconds: Int?
    /// Further attempts after a connect failure, a reset or a 503 (Istio's default retry conditions).
    public var retries: Int

    public init(matches: [HTTPRouteMatch] = [], backends: [HTTPBackendRef] = [], fault: HTTPFaultInjection? = nil,
                timeoutMilliseconds: Int? = nil, retries: Int = 0) {
        self.matches = matches
        self.backends = backends
        self.fault = fault
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retries = retries
    }
}

/// What a request must carry; every field given must match (path AND method AND each header).
public struct HTTPRouteMatch: Codable, Hashable, Sendable {
    public var path: HTTPPathMatch?
    public var method: String?
    public var headers: [HTTPHeaderMatch]

    public init(path: HTTPPathMatch? = nil, method: String? = nil, headers: [HTTPHeaderMatch] = []) {
        self.path = path
        self.method = method
        self.headers = headers
    }
}

public enum HTTPPathMatch: Codable, Hashable, Sendable {
    case exact(String)
    /// Whole path segments: `/api` matches `/api` and `/api/v1`, not `/apis`.
    case prefix(String)
    case regex(String)
}

public enum HTTPHeaderMatch: Codable, Hashable, Sendable {
    case exact(String, String)
    case regex(String, String)

    public var name: String {
        switch self {
        case .exact(let name, _), .regex(let name, _): name
        }
    }
}

/// A service in the route's namespace that requests may go to, with its share of them.
public struct HTTPBackendRef: Codable, Hashable, Sendable {
    public var service: String
    /// The port on that service; nil: the port the request was made to.
    public var port: Int?
    public var weight: Int

    public init(service: String, port: Int? = nil, weight: Int = 1) {
        self.service = service
        self.port = port
        self.weight = weight
    }
}

/// Istio's fault injection: delay some requests, answer some with an error status instead of
/// sending them upstream; percentages are applied every n-th request.
public struct HTTPFaultInjection: Codable, Hashable, Sendable {
    public var delayMilliseconds: Int?
    public var delayPercent: Double
    public var abortStatus: Int?
    public var abortPercent: Double

    public init(delayMilliseconds: Int? = nil, delayPercent: Double = 100, abortStatus: Int? = nil, abortPercent: Double = 100) {
        self.delayMilliseconds = delayMilliseconds
        self.delayPercent = delayPercent
        self.abortStatus = abortStatus
        self.abortPercent = abortPercent
    }
}
