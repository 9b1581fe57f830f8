import NIOCore
import NIOHTTP1

/// An HTTP/1.1 connection from the L7 proxy to one destination, over an HBONE stream or plain TCP.
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
    /// The pooled HBONE connection the stream went over (nil for plain TCP).
    let hboneConnection: String?
    private var exchange: Exchange?
    private var relaying = true
    private(set) var keepAlive = true

    init(channel: Channel, hboneConnection: String?) {
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

/// Where one request goes next, and how it is carried there.
struct Upstream {
    enum Carrier {
        /// An HBONE stream to this workload's 15008 (its ztunnel, its sidecar, or a waypoint).
        case hbone(Workload, authority: String)
        /// Plain TCP from inside `netns` (a sidecar's pod, or a pod outside the ambient mesh).
        case plain(host: String, port: Int, netns: String, source: String?)
    }

    /// The workload that answers, when it is in the mesh (for logs and metrics).
    var workload: Workload?
    var carrier: Carrier

    var port: Int {
        switch carrier {
        case .hbone(_, let authority): Int(authority.split(separator: ":").last ?? "") ?? 0
        case .plain(_, let port, _, _): port
        }
    }

    /// Where it goes, as logs say it (`upstream.host`) and as connections are kept.
    var key: String {
        switch carrier {
        case .hbone(_, let authority): authority
        case .plain(let host, let port, _, _): "\(host):\(port)"
        }
    }
}

extension ZTunnel {
    /// Where a request a proxy on `leg` handles for `proxied` goes next; nil when nowhere.
    func upstream(on leg: ProxyLeg, of proxied: Workload, to target: L7Proxy.Target, sourceIP: String) -> Upstream? {
        switch leg {
        case .waypoint:
            guard let (destination, port) = destination(of: target) else { return nil }
            let address = "\(destination.address):\(port)"
            return destination.tunnel == .hbone
                ? Upstream(workload: destination, carrier: .hbone(destination, authority: address))
                : Upstream(workload: destination, carrier: .plain(host: destination.address, port: port, netns: socketPlacement(for: proxied).netns, source: nil))
        case .sidecarOutbound:
            switch route(from: proxied, to: target.ip, port: target.port) {
            case .refuse: return nil
            case .hbone(let next, let authority, _): return Upstream(workload: next, carrier: .hbone(next, authority: authority))
            case .passthrough(let host, let port, let workload, _):
                return Upstream(workload: workload, carrier: .plain(host: host, port: port, netns: proxied.netns, source: nil))
            }
        case .sidecarInbound:
            // To the app beside the sidecar, from the caller's own address (the pod sees who called).
            return Upstream(workload: proxied, carrier: .plain(host: target.ip, port: target.port, netns: proxied.netns, source: sourceIP))
        }
    }

    /// A new upstream connection with HTTP/1.1 on it: an HBONE stream, or plain TCP.
    func connectUpstream(_ upstream: Upstream, from proxied: Workload, downstream: Channel, id: String) -> EventLoopFuture<UpstreamConnection> {
        let channel: EventLoopFuture<Channel>
        var hboneConnection: String?
        switch upstream.carrier {
        case .hbone(let next, let authority):
            let tunnel = openTunnel(from: proxied, to: next, authority: authority, downstream: downstream, id: id)
            (channel, hboneConnection) = (tunnel.tunnel, tunnel.connection)
        case .plain(let host, let port, let netns, let source):
            channel = connectPlain(netns: netns, host: host, port: port, source: source)
        }
        return channel.flatMapThrowing { stream in
            let connection = UpstreamConnection(channel: stream, hboneConnection: hboneConnection)
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
