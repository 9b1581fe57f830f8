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
    public var expect: [Expectation]
    public var at: SourceLocation

    public init(
        _ name: String, from: String, to: CallTarget, protocol: CallProtocol = .http, count: Int = 1, payload: Int = 0,
        expect: [Expectation], file: String = #filePath, line: Int = #line
    ) {
        self.name = name
        self.from = from
        self.to = to
        self.protocol = `protocol`
        self.count = count
        self.payload = payload
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
    /// The server saw the caller's own pod address as the source (true), or another one (false).
    case sourcePreserved(Bool)
    /// The destination ztunnel saw these SPIFFE identities (nil: not checked) over mutual TLS.
    case mtls(client: String?, server: String?)
    /// No ztunnel saw the connection arrive with an identity: plaintext, outside mTLS.
    case plaintext
    /// The authorization decision at the destination ztunnel: allowed or not, by which policy, for which reason.
    case policy(allowed: Bool, policy: String?, reason: String?)
    /// The first call took exactly these hops, e.g. `["pod a/sleep", "redirect 15001", "ztunnel node-a outbound",
    /// "HBONE", "ztunnel node-b inbound", "pod a/echo"]`, from kernel rule counters and ztunnel events.
    case path([String])
    case all([Expectation])
    case any([Expectation])

    public static func reached(_ pods: String...) -> Expectation { .reachedAny(pods) }
    public static let refused = Expectation.failed("refused")
    public static let reset = Expectation.failed("reset")
    public static func allowed(by policy: String? = nil) -> Expectation { .policy(allowed: true, policy: policy, reason: nil) }
    public static func denied(by policy: String? = nil, reason: String? = nil) -> Expectation {
        .policy(allowed: false, policy: policy, reason: reason)
    }
}
