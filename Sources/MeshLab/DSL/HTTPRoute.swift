/// A Gateway API HTTPRoute bound to a service (GAMMA: `parentRefs` is the Service). The waypoint that
/// serves the service routes its requests by the first rule that matches:
///
///     HTTPRoute("reviews", service: "reviews") {
///         RouteRule(matches: [.header("x-version", "v2")], backends: [.service("reviews-v2")])
///         RouteRule(backends: [.service("reviews-v1", weight: 3), .service("reviews-v2", weight: 1)],
///                   fault: .abort(503, percent: 10), timeout: .milliseconds(500), retries: 2)
///     }
///
/// A request no rule matches goes to the service itself, as without a route.
public struct HTTPRoute: Codable, Hashable, Sendable {
    public var name: String
    /// The service (in the same namespace) whose traffic the route takes over.
    public var service: String
    public var rules: [RouteRule]
    public var at: SourceLocation

    public init(_ name: String, service: String, file: String = #filePath, line: Int = #line,
                @RouteRuleBuilder _ rules: () -> [RouteRule]) {
        self.name = name
        self.service = service
        self.rules = rules()
        self.at = SourceLocation(file: file, line: line)
    }
}

/// One routing rule: any of its matches (none: every request), then faults, then a weighted pick
/// among its backends (none: the route's own service), with a timeout and retries.
public struct RouteRule: Codable, Hashable, Sendable {
    public var matches: [RouteMatch]
    public var backends: [Backend]
    public var fault: Fault?
    /// Milliseconds the upstream has to answer before the waypoint answers 504 itself.
    public var timeoutMilliseconds: Int?
    /// Further attempts after a connect failure, a reset or a 503 (Istio's default retry conditions).
    public var retries: Int
    public var at: SourceLocation

    public init(matches: [RouteMatch] = [], backends: [Backend] = [], fault: Fault? = nil, timeout: Duration? = nil, retries: Int = 0,
                file: String = #filePath, line: Int = #line) {
        self.matches = matches
        self.backends = backends
        self.fault = fault
        self.timeoutMilliseconds = timeout?.wholeMilliseconds
        self.retries = retries
        self.at = SourceLocation(file: file, line: line)
    }
}

/// What a request must carry; every field given must match (path AND method AND each header).
public struct RouteMatch: Codable, Hashable, Sendable {
    public var path: PathMatch?
    public var method: String?
    public var headers: [HeaderMatch]

    public init(path: PathMatch? = nil, method: String? = nil, headers: [HeaderMatch] = []) {
        self.path = path
        self.method = method
        self.headers = headers
    }

    public static func path(_ path: PathMatch) -> RouteMatch { RouteMatch(path: path) }
    public static func method(_ method: String) -> RouteMatch { RouteMatch(method: method) }
    public static func header(_ name: String, _ value: String) -> RouteMatch { RouteMatch(headers: [.exact(name, value)]) }
}

public enum PathMatch: Codable, Hashable, Sendable {
    case exact(String)
    /// Whole path segments: `/api` matches `/api` and `/api/v1`, not `/apis`.
    case prefix(String)
    case regex(String)
}

public enum HeaderMatch: Codable, Hashable, Sendable {
    case exact(String, String)
    case regex(String, String)

    public var name: String {
        switch self {
        case .exact(let name, _), .regex(let name, _): name
        }
    }
}

/// A service in the route's namespace that requests may go to, with its share of them.
public struct Backend: Codable, Hashable, Sendable {
    public var service: String
    /// The port on that service; nil: the port the request was made to.
    public var port: Int?
    public var weight: Int

    public static func service(_ name: String, port: Int? = nil, weight: Int = 1) -> Backend {
        Backend(service: name, port: port, weight: weight)
    }
}

/// Istio's fault injection: delay some requests, answer some with an error status instead of
/// sending them upstream. Percentages are applied deterministically (every n-th request), so a
/// lab's counts are exact.
public struct Fault: Codable, Hashable, Sendable {
    public var delayMilliseconds: Int?
    public var delayPercent: Double
    public var abortStatus: Int?
    public var abortPercent: Double

    public init(delay: Duration? = nil, delayPercent: Double = 100, abort: Int? = nil, abortPercent: Double = 100) {
        self.delayMilliseconds = delay?.wholeMilliseconds
        self.delayPercent = delayPercent
        self.abortStatus = abort
        self.abortPercent = abortPercent
    }

    public static func abort(_ status: Int, percent: Double = 100) -> Fault { Fault(abort: status, abortPercent: percent) }
    public static func delay(_ delay: Duration, percent: Double = 100) -> Fault { Fault(delay: delay, delayPercent: percent) }
}

@resultBuilder
public enum RouteRuleBuilder {
    public static func buildExpression(_ rule: RouteRule) -> [RouteRule] { [rule] }
    public static func buildBlock(_ parts: [RouteRule]...) -> [RouteRule] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[RouteRule]]) -> [RouteRule] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [RouteRule]?) -> [RouteRule] { part ?? [] }
    public static func buildEither(first part: [RouteRule]) -> [RouteRule] { part }
    public static func buildEither(second part: [RouteRule]) -> [RouteRule] { part }
}

extension Duration {
    var wholeMilliseconds: Int { Int(components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000) }
}
