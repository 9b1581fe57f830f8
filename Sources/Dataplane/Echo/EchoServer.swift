import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// The bundled echo app: on every port it answers HTTP/1.1 (and WebSocket), h2c (prior knowledge) and raw TCP,
/// telling the caller which pod answered and the source address it saw.
public struct EchoServer: Sendable {
    public var pod: String
    public var node: String
    public var ports: [Int]

    public init(pod: String, node: String, ports: [Int]) {
        self.pod = pod
        self.node = node
        self.ports = ports
    }

    /// Binds every port on 0.0.0.0 in the calling process's netns. Returns the listening channels.
    public func start(group: EventLoopGroup) throws -> [Channel] {
        let identity = EchoIdentity(pod: pod, node: node)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 65535)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProtocolSniffer { kind, channel in
                        let pipeline = channel.pipeline.syncOperations
                        // Only raw TCP echoes past the client's half-close; HTTP servers close on the client's EOF.
                        if kind != .tcp { channel.setOption(.allowRemoteHalfClosure, value: false).whenFailure { _ in } }
                        switch kind {
                        case .tcp:
                            try pipeline.addHandler(RawEchoHandler(identity: identity))
                        case .http1:
                            try pipeline.configureHTTPServerPipeline(withServerUpgrade: WebSocketEchoHandler.upgrade(identity: identity, replacing: "http"))
                            try pipeline.addHandler(EchoHTTPHandler(identity: identity, protocol: "HTTP/1.1"), name: "http")
                        case .h2c:
                            _ = try pipeline.configureHTTP2Pipeline(mode: .server, connectionConfiguration: AppHTTP2.connection, streamConfiguration: AppHTTP2.stream) { stream in
                                stream.eventLoop.makeCompletedFuture {
                                    try stream.pipeline.syncOperations.addHandlers(
                                        HTTP2FramePayloadToHTTP1ServerCodec(), EchoHTTPHandler(identity: identity, protocol: "h2c"))
                                }
                            }
                        }
                    })
                }
            }
        return try ports.map { try bootstrap.bind(host: "0.0.0.0", port: $0).wait() }
    }
}

/// Who the echo app is, stamped on every reply.
struct EchoIdentity: Sendable {
    var pod: String
    var node: String

    /// HTTP/2 stream channels carry their connection's addresses, so `channel` is right for every protocol.
    func reply(protocol: String, channel: Channel) -> EchoReply {
        EchoReply(
            pod: pod, node: node, protocol: `protocol`,
            source: channel.remoteAddress.map(Self.text) ?? "?",
            destination: channel.localAddress.map(Self.text) ?? "?")
    }

    static func text(_ address: SocketAddress) -> String {
        "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    }
}
