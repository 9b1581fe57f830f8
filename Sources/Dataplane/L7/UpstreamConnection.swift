import NIOCore
import NIOHTTP1

/// One request's way to an upstream: an HTTP/1.1 connection it has to itself, or one stream of a
/// shared HTTP/2 connection.
protocol UpstreamExchange: AnyObject {
    /// The pooled HBONE connection it rides (nil for plain TCP).
    var hboneConnection: String? { get }
    /// Sends the head, then the body as it arrives (flushed once per read of the client).
    func send(_ head: HTTPRequestHead, _ body: RequestBody, _ response: UpstreamResponse)
    /// Stops the request (a timeout): nothing more is delivered.
    func abandon()
    /// Where the response is read from (nil until the exchange has one).
    var responseChannel: Channel? { get }
}

extension UpstreamExchange {
    /// Backpressure: while the client cannot take more, the response is not read — an HTTP/2 stream
    /// then stops opening its flow-control window, a socket its TCP window, and the server waits.
    func readResponse(_ on: Bool) {
        guard let channel = responseChannel else { return }
        channel.setOption(.autoRead, value: on).whenSuccess { if on { channel.read() } }
    }
}

/// Where one request's response goes. `head` decides whether the rest is relayed (true) or read
/// and dropped (false: the proxy will retry).
struct UpstreamResponse {
    var head: (HTTPResponseHead) -> Bool
    var body: (ByteBuffer) -> Void
    var end: (HTTPHeaders?) -> Void  // with the trailers, if any (gRPC's status)
    /// What one read from the upstream brought has been handed on: send it (a streamed response).
    var flush: () -> Void
    var failed: (Error) -> Void
    /// The upstream can take more of the request's body (its channel became writable, or the body
    /// started streaming there): the client may be read again.
    var sendMore: () -> Void

    /// Hands on a head, or a body part while relaying; at the end returns its trailers, which the
    /// caller delivers with `end` once it has let go of the exchange (ending may start the next
    /// request on the same connection).
    func take(_ part: HTTPClientResponsePart, relaying: inout Bool) -> HTTPHeaders?? {
        switch part {
        case .head(let head): relaying = self.head(head)
        case .body(let bytes): if relaying { body(bytes) }
        case .end(let trailers): return .some(trailers)
        }
        return nil
    }
}

/// An HTTP/1.1 connection from the L7 proxy to one destination, over an HBONE stream or plain TCP.
/// It carries one request at a time and is kept for the next request of the same downstream
/// connection while the destination keeps it alive (Envoy's upstream connection reuse).
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler, UpstreamExchange, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let channel: Channel
    /// The pooled HBONE connection the stream went over (nil for plain TCP).
    let hboneConnection: String?
    private var exchange: UpstreamResponse?
    private var relaying = true
    private(set) var keepAlive = true

    init(channel: Channel, hboneConnection: String?) {
        self.channel = channel
        self.hboneConnection = hboneConnection
    }

    var idle: Bool { exchange == nil && keepAlive && channel.isActive }
    var responseChannel: Channel? { channel }

    func send(_ head: HTTPRequestHead, _ body: RequestBody, _ exchange: UpstreamResponse) {
        self.exchange = exchange
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        body.stream(to: channel)
        exchange.sendMore()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else { return }
        let part = unwrapInboundIn(data)
        if case .head(let head) = part { keepAlive = head.isKeepAlive }
        guard let trailers = exchange.take(part, relaying: &relaying) else { return }
        self.exchange = nil
        exchange.end(trailers)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { exchange?.sendMore() }
        context.fireChannelWritabilityChanged()
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

    /// Leaves HTTP after a 101: the connection is glued to the client's from here on.
    func unwrap() throws -> EventLoopFuture<Void> {
        try ProtocolUpgrade.unwrap(channel, application: self) { pipeline in
            [try pipeline.handler(type: HTTPRequestEncoder.self), try pipeline.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self)]
        }
    }

    /// Stops whatever request it carries (a timeout): nothing more is delivered, and it is closed.
    func abandon() {
        exchange = nil
        keepAlive = false
        channel.close(promise: nil)
    }
}


extension UpstreamConnection {
    /// HTTP/1.1 on a new upstream connection.
    static func start(on channel: Channel, hboneConnection: String?) throws -> UpstreamConnection {
        let connection = UpstreamConnection(channel: channel, hboneConnection: hboneConnection)
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(HTTPRequestEncoder())
        // Bytes behind a 101 go on to the protocol it switched to (see ProtocolUpgrade).
        try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)))
        try pipeline.addHandler(connection)
        try Holdback.handOver(channel)
        return connection
    }
}
