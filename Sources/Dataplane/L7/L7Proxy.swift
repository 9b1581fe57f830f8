import NIOCore
import NIOHTTP1
import NIOHTTP2

/// MeshLab's L7 proxy on one downstream connection (an HBONE stream at a waypoint, a captured
/// connection at a sidecar; HTTP/1.1, or one h2c stream through the HTTP/2→HTTP/1 codec). It serves
/// the requests one at a time, in Envoy's filter order: add an `x-request-id` when there is none;
/// pick the HTTPRoute rule and backend; L7 authorization (403, naming the policy); faults (delay,
/// abort); then the upstream exchange with the rule's timeout and retries, over a connection that
/// later requests of this downstream connection reuse (HTTP/1.1), or a stream of an HTTP/2 connection
/// its streams share (HTTP/2). One JSON log line and one
/// `istio_requests_total` count per request. `leg` says which of these steps apply.
final class L7Proxy: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The request's original destination: a service VIP or a workload address, and its port.
    struct Target {
        var ip: String
        var port: Int
        var service: MeshService?
        var workload: Workload?
    }

    let inputs: L7Inputs
    let leg: ProxyLeg
    /// The workload the proxy serves: the waypoint, or the sidecar's pod.
    let proxied: Workload
    let peer: SpiffeID?
    /// The caller, `ip:port`, and its address alone.
    let source: String
    let sourceIP: String
    let target: Target
    /// The body of the request being read.
    private var incoming: RequestBody?
    /// Requests received and not yet started (HTTP/1.1 pipelining), answered in order.
    private var waiting: [(HTTPRequestHead, RequestBody)] = []
    /// The request being answered.
    private var current: ProxiedRequest?
    /// The downstream connection is gone.
    private var closed = false
    /// The client reset its HTTP/2 stream (RST_STREAM) rather than closing the connection.
    private var resetByClient = false
    /// The HTTP/1.1 client half-closed its connection: no further request can come.
    private var inputEnded = false
    /// HTTP/1.1 upstream connections by where they go, reused by this connection's later requests.
    private var upstreams: [String: UpstreamConnection] = [:]
    /// For an HTTP/2 downstream: the HTTP/2 upstream connections all its streams share.
    private let http2Upstreams: HTTP2UpstreamPool?
    /// The client speaks h2c (this proxy serves one of its streams) rather than HTTP/1.1.
    private var servesHTTP2Stream: Bool { http2Upstreams != nil }
    /// The client is not read while the body it is sending cannot go on (`RequestBody.wantsMore`);
    /// a read asked for meanwhile is held until it can.
    private var readingPaused = false
    private var readHeld = false

    /// The connection's own `opened` event, when its arrival is logged (an HBONE stream at a sidecar):
    /// logged when the proxy starts, and `closed` when the connection ends.
    private let arrival: ConnectionEvent?
    private let started = ContinuousClock.now

    init(inputs: L7Inputs, leg: ProxyLeg, proxied: Workload, peer: SpiffeID?, source: String, target: Target, http2Upstreams: HTTP2UpstreamPool?,
         arrival: ConnectionEvent? = nil) {
        self.arrival = arrival
        self.http2Upstreams = http2Upstreams
        self.inputs = inputs
        self.leg = leg
        self.proxied = proxied
        self.peer = peer
        self.source = source
        sourceIP = String(source.split(separator: ":").first ?? "")
        self.target = target
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head):
            // As Envoy does by default, the proxy answers `Expect: 100-continue` itself and does not
            // pass it on (the upstream is picked later); without it curl holds an upload back a second.
            if head.version == .http1_1, current == nil, waiting.isEmpty,
               head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                head.headers.remove(name: "expect")
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            let body = RequestBody()
            incoming = body
            waiting.append((head, body))
        case .body(let chunk):
            incoming?.append(chunk)
        case .end(let trailers):
            incoming?.finish(trailers)
            incoming = nil
            serveNext(context: context)
        }
    }

    /// What this read brought of a body goes upstream in one flush. A request whose body is still
    /// coming starts once what this read brought is taken in: its upstream gets the rest as it
    /// arrives (uploads, gRPC streams). One that arrived whole started at its end, and goes upstream
    /// in one write with its length. Then reading goes on only if the body can (`updateReading`).
    func channelReadComplete(context: ChannelHandlerContext) {
        incoming?.flush()
        serveNext(context: context)
        updateReading(context: context)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readingPaused { readHeld = true } else { context.read() }
    }

    /// Envoy's flow control for uploads: the client is read only while the body it sends can go on.
    /// An upstream that cannot take more then closes the client's window (its HTTP/2 stream's, or
    /// its socket's) rather than filling the proxy's memory.
    func updateReading(context: ChannelHandlerContext) {
        readingPaused = !(incoming?.wantsMore ?? true)
        if !readingPaused && readHeld {
            readHeld = false
            context.read()
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let arrival { inputs.log.write(arrival) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let arrival {
            var closed = arrival.closed(sent: 0, received: 0, since: started)
            (closed.bytesSent, closed.bytesRecv) = (nil, nil)  // counted per request, not here
            inputs.log.write(closed)
        }
        closed = true
        waiting.forEach { $0.1.discard() }
        waiting = []
        current?.downstreamClosed(reset: resetByClient)
        upstreams.values.forEach { $0.abandon() }
        upstreams = [:]
        context.fireChannelInactive()
    }

    /// An HTTP/1.1 client that half-closes mid-request has given up on it: Envoy (no half-close on
    /// HTTP connections) takes that for a closed connection, DC. Requests that arrived whole are
    /// still answered, and then the connection ends (nothing more can come).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !servesHTTP2Stream, let event = event as? ChannelEvent, event == .inputClosed {
            inputEnded = true
            if incoming != nil || (current == nil && waiting.isEmpty) { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { current?.resumeResponse() }
        context.fireChannelWritabilityChanged()
    }

    /// NIO reports a reset h2c request stream as this error, before the stream goes inactive. (An
    /// HTTP/1.1 connection's HBONE stream reset is its connection ending: DC.)
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if servesHTTP2Stream, error is NIOHTTP2Errors.StreamClosed { resetByClient = true }
        context.fireErrorCaught(error)
    }

    private func serveNext(context: ChannelHandlerContext) {
        guard current == nil, !waiting.isEmpty else { return }
        let (head, body) = waiting.removeFirst()
        let request = ProxiedRequest(proxy: self, context: context, request: head, body: body)
        current = request
        request.start()
    }

    /// Called by a request once its response has been written. `closing`: the answer was cut short.
    func finished(_ request: ProxiedRequest, context: ChannelHandlerContext, closing: Bool) {
        current = nil
        guard context.channel.isActive else { return }
        if closing {
            context.close(promise: nil)  // the client must see the connection break
        } else if request.endsConnection || (inputEnded && waiting.isEmpty) {
            // The last answer on this connection: end our side behind it. (A full close could drop
            // what is still queued, and resets an HBONE stream.) What the client still sends of a
            // body answered early is read and dropped, not left to hold the client up.
            context.close(mode: .output, promise: nil)
            updateReading(context: context)
        } else {
            serveNext(context: context)
            updateReading(context: context)
        }
    }

    /// The way to `upstream` for one request: a stream of the shared HTTP/2 connection, or this
    /// connection's HTTP/1.1 connection there, reused while it stays alive.
    func exchange(to upstream: Upstream, context: ChannelHandlerContext, id: String) -> EventLoopFuture<UpstreamExchange> {
        if let http2Upstreams {
            return http2Upstreams.exchange(to: upstream, opener: inputs.opener, from: proxied, downstream: context.channel, id: id)
        }
        if let kept = upstreams[upstream.key], kept.idle { return context.eventLoop.makeSucceededFuture(kept) }
        upstreams[upstream.key]?.abandon()
        upstreams[upstream.key] = nil
        let opened = inputs.opener.open(upstream, from: proxied, downstream: context.channel, id: id)
        return opened.channel.flatMapThrowing { channel in
            do {
                guard !self.closed else { throw ChannelError.ioOnClosedChannel }  // opened too late: nobody will use it
                let connection = try UpstreamConnection.start(on: channel, hboneConnection: opened.hboneConnection)
                self.upstreams[upstream.key] = connection
                return connection
            } catch {
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// An upgraded request's downstream leaves HTTP (this proxy included): it is glued to `upstream`.
    func upgrade(_ context: ChannelHandlerContext, to upstream: UpstreamConnection, closed: @escaping () -> Void) throws {
        upstreams = upstreams.filter { $0.value !== upstream }
        let downstream = context.channel
        // Nothing is read until the glue is in place (it turns reading back on), as for a ztunnel tunnel.
        for channel in [downstream, upstream.channel] { try channel.syncOptions?.setOption(.autoRead, value: false) }
        let unwrapped = try ProtocolUpgrade.unwrap(downstream, application: self) { pipeline in
            [try pipeline.handler(type: HTTPResponseEncoder.self), try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)]
        }.and(try upstream.unwrap())
        unwrapped.whenComplete { [inputs] result in
            guard case .success = result else {
                downstream.close(promise: nil)
                upstream.abandon()
                return closed()
            }
            inputs.forwarder.glue(downstream, upstream.channel) { _, _ in closed() }
            // An HTTP/2 stream holds what arrived (the server's first frames) until asked to read.
            downstream.read()
            upstream.channel.read()
        }
    }

    /// Forgets an upstream exchange that can no longer be used (timed out, failed).
    func discard(_ exchange: UpstreamExchange) {
        exchange.abandon()
        upstreams = upstreams.filter { $0.value !== exchange }
    }
}

extension L7Proxy {
    /// Serves a downstream connection in the protocol its client speaks: HTTP/1.1 or h2c through an
    /// L7 proxy (one per h2c stream); anything else goes to `tcp`, held again (Envoy's TCP proxy for
    /// traffic that is not HTTP). Installs a sniffer that the caller then feeds.
    static func serve(_ channel: Channel, proxy: @escaping @Sendable (HTTP2UpstreamPool?) -> L7Proxy, tcp: @escaping (Channel) -> Void) throws {
        try channel.pipeline.syncOperations.addHandler(ProtocolSniffer { kind, channel in
            let pipeline = channel.pipeline.syncOperations
            switch kind {
            case .http1:
                try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)))
                try pipeline.addHandler(HTTPResponseEncoder())
                try pipeline.addHandler(proxy(nil))
            case .h2c:
                let shared = HTTP2UpstreamPool()
                channel.closeFuture.whenComplete { _ in shared.closeAll() }
                try pipeline.addHandler(CloseOnInputClosed())
                _ = try pipeline.configureHTTP2Pipeline(mode: .server, connectionConfiguration: AppHTTP2.connection, streamConfiguration: AppHTTP2.stream) { h2 in
                    h2.eventLoop.makeCompletedFuture { try h2.pipeline.syncOperations.addHandlers(HTTP2FramePayloadToHTTP1ServerCodec(), proxy(shared)) }
                }
                try pipeline.addHandler(CloseOnConnectionError())
            case .tcp:
                try pipeline.addHandler(Holdback())
                tcp(channel)
            }
        })
    }
}
