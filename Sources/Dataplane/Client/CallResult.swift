/// One call the client made and what came of it: the unit every reachability check reads.
public struct CallResult: Codable, Hashable, Sendable {
    public enum Outcome: String, Codable, Sendable {
        case ok
        /// The connection was refused (RST to the SYN).
        case refused
        /// The connection was reset after it was established.
        case reset
        case timeout
        /// No route to the destination (ICMP unreachable).
        case unreachable
        /// Anything else; `error` says what.
        case failed
    }

    public var call: Int
    public var target: String
    public var `protocol`: String
    public var outcome: Outcome
    public var status: Int?
    public var reply: EchoReply?
    /// For raw TCP: whether the echoed bytes equal the bytes sent.
    public var echoIntact: Bool?
    public var error: String?
    public var milliseconds: Double
    /// The client's own address (ip:port) for the call's connection, once connected.
    public var source: String?

    public var ok: Bool { outcome == .ok }
}
