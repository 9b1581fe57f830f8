import Foundation
import NIOCore
import NIOHTTP1

/// Serves the HTTP requests of one stream that arrived at a waypoint over HBONE (HTTP/1.1, or one
/// h2c stream through the HTTP/2→HTTP/1 codec), one at a time, in Envoy's filter order: add an
/// `x-request-id` when there is none; pick the HTTPRoute rule and backend; L7 authorization (403,
/// naming the policy); faults (delay, abort); then the upstream exchange with the rule's timeout
/// and retries, over an HBONE stream to the destination's ztunnel that later requests of this
/// stream reuse. One JSON log line and one `istio_requests_total` count per request.
final class WaypointProxy: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Target {
        var ip: String
        var port: Int
        var service: MeshService?
        var workload: Workload?
    }

    let ztunnel: ZTunnel
    let waypoint: Workload
    let peer: SpiffeID?
    let source: String
    let target: Target
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    /// Requests received while one is being answered (HTTP/1.1 pipelining), answered in order.
    private var waiting: [(HTTPRequestHead, ByteBuffer)] = []
    private var busy = false
    /// Upstream connections by destination `ip:port`, reused by this stream's later requests.
    private var upstreams: [String: UpstreamConnection] = [:]

    init(ztunnel: ZTunnel, waypoint: Workload, peer: SpiffeID?, source: String, target: Target) {
        self.ztunnel = ztunnel
        self.waypoint = waypoint
        self.peer = peer
        self.source = source
        self.target = target
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = ByteBuffer()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let head else { return }
            self.head = nil
            waiting.append((head, body))
            serveNext(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstreams.values.forEach { $0.abandon() }
        upstreams = [:]
        context.fireChannelInactive()
    }

    private func serveNext(context: ChannelHandlerContext) {
        guard !busy, !waiting.isEmpty else { return }
        busy = true
        let (head, body) = waiting.removeFirst()
        ProxiedRequest(proxy: self, context: context, request: head, body: body).start()
    }

    /// Called by a request once its response has been written.
    func finished(_ request: ProxiedRequest, context: ChannelHandlerContext) {
        busy = false
        if !request.request.isKeepAlive && request.request.version.major == 1 {
            context.close(promise: nil)
            return
        }
        serveNext(context: context)
    }

    /// This stream's connection to `destination`, reused while it stays alive.
    func upstream(to destination: Workload, port: Int, context: ChannelHandlerContext, id: String) -> EventLoopFuture<UpstreamConnection> {
        let key = "\(destination.address):\(port)"
        if let kept = upstreams[key], kept.idle { return context.eventLoop.makeSucceededFuture(kept) }
        upstreams[key]?.abandon()
        upstreams[key] = nil
        return ztunnel.connectUpstream(from: waypoint, to: destination, port: port, downstream: context.channel, id: id).map { connection in
            self.upstreams[key] = connection
            return connection
        }
    }

    /// Forgets an upstream connection that can no longer be used (timed out, failed).
    func discard(_ connection: UpstreamConnection) {
        connection.abandon()
        upstreams = upstreams.filter { $0.value !== connection }
    }
}
