import NIOCore
import NIOHTTP1

/// An HTTP/1.1 connection from a waypoint to one destination workload, over an HBONE stream.
/// It carries one request at a time and is kept for the next request of the same downstream
/// connection while the destination keeps it alive (Envoy's upstream connection reuse).
final class UpstreamConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    /// Where one request's response goes. `head` decides whether the rest is relayed (true) or
    /// read and dropped (false: the waypoint will retry).
    struct Exchange {
        var head: (HTTPResponseHead) -> Bool
        var body: (ByteBuffer) -> Void
        var end: () -> Void
        var failed: (Error) -> Void
    }

    let channel: Channel
    /// The pooled HBONE connection the stream went over.
    let hboneConnection: String
    private var exchange: Exchange?
    private var relaying = true
    private(set) var keepAlive = true

    init(channel: Channel, hboneConnection: String) {
        self.channel = channel
        self.hboneConnection = hboneConnection
    }

    var idle: Bool { exchange == nil && keepAlive && channel.isActive }

    func send(_ head: HTTPRequestHead, _ body: ByteBuffer, _ exchange: Exchange) {
        self.exchange = exchange
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            relaying = exchange.head(head)
        case .body(let bytes):
            if relaying { exchange.body(bytes) }
        case .end:
            self.exchange = nil
            exchange.end()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepAlive = false
        if let exchange {
            self.exchange = nil
            exchange.failed(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Stops whatever request it carries (a timeout): nothing more is delivered, and it is closed.
    func abandon() {
        exchange = nil
        keepAlive = false
        channel.close(promise: nil)
    }
}

extension ZTunnel {
    /// A new upstream connection: an HBONE stream to the destination's ztunnel with HTTP/1.1 on it.
    func connectUpstream(from waypoint: Workload, to destination: Workload, port: Int, downstream: Channel, id: String)
        -> EventLoopFuture<UpstreamConnection>
    {
        let tunnel = openTunnel(from: waypoint, to: destination, authority: "\(destination.address):\(port)", downstream: downstream, id: id)
        return tunnel.tunnel.flatMapThrowing { stream in
            let connection = UpstreamConnection(channel: stream, hboneConnection: tunnel.connection)
            do {
                let pipeline = stream.pipeline.syncOperations
                try pipeline.addHandler(HTTPRequestEncoder())
                try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                try pipeline.addHandler(connection)
                let holdback = try pipeline.handler(type: Holdback.self)
                holdback.release(try pipeline.context(handler: holdback))
            } catch {
                stream.close(promise: nil)
                throw error
            }
            stream.setOption(.autoRead, value: true).whenFailure { _ in }
            return connection
        }
    }
}
