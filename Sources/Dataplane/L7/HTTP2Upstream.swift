import NIOCore
import NIOHTTP1
import NIOHTTP2

/// An HTTP/2 connection (h2c, inside an HBONE stream or on plain TCP) from the L7 proxy to one
/// destination. A downstream that speaks HTTP/2 gets HTTP/2 upstream (Envoy's "use the downstream
/// protocol"), and all its streams share this connection, one stream per request.
final class HTTP2Upstream: @unchecked Sendable {
    let channel: Channel
    let hboneConnection: String?
    private let streams: NIOHTTP2Handler.StreamMultiplexer

    private init(channel: Channel, hboneConnection: String?, streams: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.hboneConnection = hboneConnection
        self.streams = streams
    }

    static func start(on channel: Channel, hboneConnection: String?) throws -> HTTP2Upstream {
        let streams = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .client, connectionConfiguration: AppHTTP2.connection, streamConfiguration: AppHTTP2.stream) { $0.eventLoop.makeSucceededVoidFuture() }
        try channel.pipeline.syncOperations.addHandler(CloseOnConnectionError())
        try Holdback.handOver(channel)
        return HTTP2Upstream(channel: channel, hboneConnection: hboneConnection, streams: streams)
    }

    /// A stream for one request.
    func exchange() -> UpstreamExchange { Stream(connection: self) }

    /// One request on its own HTTP/2 stream, through the HTTP/2→HTTP/1 client codec.
    private final class Stream: ChannelInboundHandler, UpstreamExchange, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        private let connection: HTTP2Upstream
        private var response: UpstreamResponse?
        private var relaying = true
        private var stream: Channel?

        init(connection: HTTP2Upstream) { self.connection = connection }

        var responseChannel: Channel? { stream }

        var hboneConnection: String? { connection.hboneConnection }

        func send(_ head: HTTPRequestHead, _ body: RequestBody, _ response: UpstreamResponse) {
            self.response = response
            connection.streams.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandlers(HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http), self)
                }
            }.whenComplete { result in
                switch result {
                case .success(let stream):
                    self.stream = stream
                    guard self.response != nil else { return stream.close(promise: nil) }  // abandoned meanwhile
                    stream.write(HTTPClientRequestPart.head(head), promise: nil)
                    body.stream(to: stream)
                    response.sendMore()
                case .failure(let error):
                    self.fail(error)
                }
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard let response, let trailers = response.take(unwrapInboundIn(data), relaying: &relaying) else { return }
            self.response = nil
            response.end(trailers)
            context.close(promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            response?.flush()
            context.fireChannelReadComplete()
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { response?.sendMore() }
            context.fireChannelWritabilityChanged()
        }

        func channelInactive(context: ChannelHandlerContext) {
            fail(ChannelError.eof)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            context.close(promise: nil)
        }

        private func fail(_ error: Error) {
            guard let response else { return }
            self.response = nil
            response.failed(error)
        }

        func abandon() {
            response = nil
            stream?.close(promise: nil)
        }
    }
}

/// The HTTP/2 upstream connections of one downstream HTTP/2 connection, by where they go, shared
/// by its streams (each stream has an L7 proxy of its own).
final class HTTP2UpstreamPool: @unchecked Sendable {
    private var connected: [String: HTTP2Upstream] = [:]
    private var connecting: [String: EventLoopFuture<HTTP2Upstream>] = [:]
    /// The downstream connection is gone: connections that finish opening now are closed at once.
    private var closed = false

    func exchange(to upstream: Upstream, opener: UpstreamOpener, from proxied: Workload, downstream: Channel, id: String)
        -> EventLoopFuture<UpstreamExchange>
    {
        let key = upstream.key
        if let kept = connected[key], kept.channel.isActive { return downstream.eventLoop.makeSucceededFuture(kept.exchange()) }
        if let pending = connecting[key] { return pending.map { $0.exchange() } }
        let opened = opener.open(upstream, from: proxied, downstream: downstream, id: id)
        let connection = opened.channel.flatMapThrowing { channel in
            do {
                return try HTTP2Upstream.start(on: channel, hboneConnection: opened.hboneConnection)
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
        connecting[key] = connection
        connection.whenComplete { result in
            self.connecting[key] = nil
            guard case .success(let established) = result else { return }
            if self.closed { return established.channel.close(promise: nil) }
            self.connected[key] = established
        }
        return connection.map { $0.exchange() }
    }

    func closeAll() {
        closed = true
        connected.values.forEach { $0.channel.close(promise: nil) }
        connected = [:]
    }
}
