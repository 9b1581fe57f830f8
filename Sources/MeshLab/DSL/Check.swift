/// Something a lab says must be true, proven by real traffic when `meshlab test` runs it:
///
///     Check("sleep reaches echo over mTLS", from: "ambient/sleep-a", to: .pod("ambient/echo-b", port: 8000),
///           expect: [.ok, .reached("ambient/echo-b"), .mtls(client: "spiffe://cluster.local/ns/ambient/sa/sleep")])
public struct Check: Codable, Hashable, Sendable {
    public var name: String
    /// The pod the calls are made from (`namespace/pod`).
    public var from: String
    public var to: CallTarget
    public var `protocol`: CallProtocol
    public var count: Int
    /// Bytes sent per call (HTTP body or raw TCP payload echoed back).
    public var payload: Int
    /// HTTP: the request each call makes (nil: GET /, or POST / with a payload).
    public var request: Request?
    public var expect: [Expectation]
    /// A change made while every call's connection is held open (raw TCP): each call sends, the
    /// change happens, then it sends again and half-closes. The lab is put back afterwards.
    public var during: Change?
    public var at: SourceLocation

    public init(
        _ name: String, from: String, to: CallTarget, protocol: CallProtocol = .http, request: Request? = nil, count: Int = 1,
        payload: Int = 0, during: Change? = nil, expect: [Expectation], file: String = #filePath, line: Int = #line
    ) {
        self.during = during
        self.name = name
        self.from = from
        self.to = to
        self.protocol = `protocol`
        self.count = count
        self.payload = payload
        self.request = request
        self.expect = expect
        self.at = SourceLocation(file: file, line: line)
    }
}

public enum CallTarget: Codable, Hashable, Sendable {
    /// A pod's own address (`namespace/pod`).
    case pod(String, port: Int)
    /// A service's VIP (`namespace/service`).
    case service(String, port: Int)
    /// Any address, e.g. outside the mesh.
    case address(String, port: Int)
}

public enum CallProtocol: String, Codable, Hashable, Sendable {
    case http, h2, tcp
}

/// The HTTP request a check's calls make: `.get("/reviews", headers: ["x-version": "v2"])`.
public struct Request: Codable, Hashable, Sendable {
    public var method: String
    public var path: String
    public var headers: [String: String]

    public init(method: String, path: String = "/", headers: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.headers = headers
    }

    public static func get(_ path: String = "/", headers: [String: String] = [:]) -> Request { Request(method: "GET", path: path, headers: headers) }
    public static func post(_ path: String = "/", headers: [String: String] = [:]) -> Request { Request(method: "POST", path: path, headers: headers) }
}

/// A change to a running lab, made in the middle of a check's long-lived connections.
public enum Change: Codable, Hashable, Sendable {
    /// The node's ztunnel is restarted.
    case ztunnelRestart(node: String)
    /// This policy is added to the namespace (and removed after the check).
    case addPolicy(namespace: String, AuthorizationPolicy)
    /// The policy `namespace/name` is removed (and restored after the check).
    case removePolicy(String)
}

/// What the calls must show. Compose with `.all` and `.any`.
public indirect enum Expectation: Codable, Hashable, Sendable {
    /// Every call succeeded.
    case ok
    /// Every call failed this way: `refused`, `reset`, `timeout`, `unreachable`.
    case failed(String)
    /// Every call got this HTTP status.
    case status(Int)
    /// Every call was answered by one of these pods.
    case reachedAny([String])
    /// Each of these pods answered at least once (spread over a service's endpoints).
    case spreadOver([String])
    /// Exactly this many calls were answered by each pod, and none by others (weighted routing).
    case split([String: Int])
    /// Exactly this many calls got each HTTP status (a fault injected into some of them).
    case statuses([Int: Int])
    /// Every call took at least this many milliseconds (an injected delay).
    case tookAtLeast(milliseconds: Int)
    /// The server saw the caller's own pod address as the source (true), or another one (false).
    case sourcePreserved(Bool)
    /// The destination ztunnel saw these SPIFFE identities (nil: not checked) over mutual TLS.
    case mtls(client: String?, server: String?)
    /// No ztunnel saw the connection arrive with an identity: plaintext, outside mTLS.
    case plaintext
    /// The authorization decisions for the calls: allowed or not, by which policy (`ns/name`), for which
    /// reason, and at which hop (`ztunnel node-b`; nil: wherever they were made).
    case policy(allowed: Bool, policy: String?, reason: String?, at: String? = nil)
    /// The first call took exactly these hops, e.g. `["pod a/sleep", "redirect 15001", "ztunnel node-a outbound",
    /// "HBONE", "ztunnel node-b inbound", "pod a/echo"]`, from kernel rule counters and ztunnel events.
    case path([String])
    /// Each connection sent this many packets through the redirect rule (the first-packet path:
    /// rule, listener, original destination, policy) and the rest on conntrack's established path,
    /// from the caller netns's rule counters and its conntrack entries read over netlink.
    case fastPath(firstPackets: Int)
    /// The calls' CONNECT streams went over this many HBONE connections (tunnel reuse).
    case hbone(connections: Int, streams: Int)
    /// Only HBONE (TCP 15008) crossed this link during the calls: `underlay`, a node, or a pod.
    case onlyHBONE(on: String)
    /// The calls' payload never crossed this link in plaintext.
    case neverInPlaintext(on: String)
    /// Every answered call reached its server carrying this request header (a waypoint adds `x-request-id`).
    case requestHeader(String)
    case all([Expectation])
    case any([Expectation])
    /// The expectation must fail (e.g. `.not(.requestHeader("x-request-id"))`: no waypoint on the way).
    case not(Expectation)

    public static func reached(_ pods: String...) -> Expectation { .reachedAny(pods) }
    public static let refused = Expectation.failed("refused")
    public static let reset = Expectation.failed("reset")
    public static func allowed(by policy: String? = nil, at hop: String? = nil) -> Expectation {
        .policy(allowed: true, policy: policy, reason: nil, at: hop)
    }
    public static func denied(by policy: String? = nil, reason: String? = nil, at hop: String? = nil) -> Expectation {
        .policy(allowed: false, policy: policy, reason: reason, at: hop)
    }
}

extension Expectation {
    /// The links this expectation captures on.
    public var links: [String] {
        switch self {
        case .onlyHBONE(let link), .neverInPlaintext(let link): [link]
        case .all(let parts), .any(let parts): parts.flatMap(\.links)
        case .not(let part): part.links
        default: []
        }
    }
}
