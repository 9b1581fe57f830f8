/// What the echo app answers: who served the call and what it saw of it.
public struct EchoReply: Codable, Hashable, Sendable {
    /// `namespace/name` of the pod that answered.
    public var pod: String
    public var node: String
    /// `HTTP/1.1`, `h2c` or `tcp`.
    public var `protocol`: String
    /// The peer address as the server's socket saw it (`ip:port`).
    public var source: String
    /// The local address the connection reached (`ip:port`).
    public var destination: String
    public var method: String?
    public var path: String?
    public var headers: [String: String]?

    public init(pod: String, node: String, protocol: String, source: String, destination: String,
                method: String? = nil, path: String? = nil, headers: [String: String]? = nil) {
        self.pod = pod
        self.node = node
        self.protocol = `protocol`
        self.source = source
        self.destination = destination
        self.method = method
        self.path = path
        self.headers = headers
    }

    /// The source address without its port.
    public var sourceIP: String { String(source.split(separator: ":").first ?? "") }
}
