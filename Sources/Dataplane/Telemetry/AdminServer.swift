import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// ztunnel's HTTP ports in its own netns: admin 15000 (localhost, /config_dump), metrics 15020
/// (/metrics) and readiness 15021 (/healthz/ready).
public enum AdminServer {
    public static func start(proxy: any MeshProxy, group: EventLoopGroup) throws -> [Channel] {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel(rawValue: SOL_SOCKET), name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)  // beside a draining predecessor
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(proxy: proxy))
                }
            }
        return try [("127.0.0.1", 15000), ("0.0.0.0", 15020), ("0.0.0.0", 15021)].map {
            try bootstrap.bind(host: $0.0, port: $0.1).wait()
        }
    }
}

private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let proxy: any MeshProxy
    private var path = "/"

    init(proxy: any MeshProxy) { self.proxy = proxy }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = head.uri
        case .body: break
        case .end: answer(context)
        }
    }

    private func answer(_ context: ChannelHandlerContext) {
        let port = context.channel.localAddress?.port ?? 0
        let channel = context.channel
        let send: @Sendable (HTTPResponseStatus, String) -> Void = { status, body in
            var headers = HTTPHeaders([("content-length", String(body.utf8.count)), ("connection", "close")])
            headers.add(name: "content-type", value: port == 15020 ? "text/plain; version=0.0.4" : "application/json")
            channel.write(HTTPServerResponsePart.head(.init(version: .http1_1, status: status, headers: headers)), promise: nil)
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
            channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
        }
        switch (port, path) {
        case (15020, "/metrics"): send(.ok, proxy.renderMetrics())
        case (15021, "/healthz/ready"): send(.ok, "ready\n")
        case (15000, "/config_dump"):
            proxy.dump().whenComplete { result in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                let body = (try? result.get()).flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
                send(body == nil ? .internalServerError : .ok, body ?? "{}")
            }
        default: send(.notFound, "not found\n")
        }
    }
}
