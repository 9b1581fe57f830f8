import Foundation
import NIOCore
import NIOHTTP1

/// Serves one HTTP/1.1 stream that arrived at a waypoint over HBONE: for each request, adds an
/// `x-request-id` when there is none, evaluates the waypoint's L7 policies (403 when denied, naming
/// the policy in the log), and sends the request on over HBONE to a destination workload, relaying
/// the response. One JSON log line per request.
final class WaypointProxy: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Target {
        var ip: String
        var port: Int
        var service: MeshService?
        var workload: Workload?
    }

    private let ztunnel: ZTunnel
    private let waypoint: Workload
    private let peer: SpiffeID?
    private let source: String
    private let target: Target
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

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
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard var head else { return }
            self.head = nil
            if head.headers.first(name: "x-request-id") == nil { head.headers.add(name: "x-request-id", value: UUID().uuidString.lowercased()) }
            handle(head, body, context: context)
        }
    }

    private func handle(_ request: HTTPRequestHead, _ body: ByteBuffer, context: ChannelHandlerContext) {
        let started = ContinuousClock.now
        var event = ConnectionEvent(event: .policy, id: ztunnel.nextID(), direction: "inbound")
        event.srcAddr = source
        event.srcIdentity = peer?.uri
        event.srcNamespace = peer?.namespace
        event.dstAddr = "\(target.ip):\(target.port)"
        event.dstService = target.service?.hostname
        event.method = "\(request.method)"
        event.path = request.uri
        event.requestID = request.headers.first(name: "x-request-id")
        guard let (destination, port) = ztunnel.destination(of: target) else {
            respond(503, "no destination for \(target.ip):\(target.port)", event: event, started: started, context: context)
            return
        }
        event.dstWorkload = destination.name
        event.dstIdentity = ztunnel.identity(of: destination).uri
        let facts = ConnectionFacts(sourceIdentity: peer, sourceIP: String(source.split(separator: ":").first ?? ""), destinationIP: destination.address,
                                    destinationPort: port, destination: destination, method: "\(request.method)", path: request.uri)
        let decision = authorize(facts, policies: ztunnel.waypointPolicies(waypoint.uid))
        event.allowed = decision.allowed
        event.policy = decision.policy
        event.reason = decision.reason
        ztunnel.logEvent(event)
        guard decision.allowed else {
            respond(403, "RBAC: access denied", event: event, started: started, context: context)
            return
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let tunnel = ztunnel.openTunnel(from: waypoint, to: destination, authority: "\(destination.address):\(port)", downstream: context.channel,
                                        id: event.id)
        event.dstHboneAddr = "\(destination.address):15008"
        event.hboneConnection = tunnel.connection
        let request = request, finished = event
        tunnel.tunnel.whenComplete { result in
            let (proxy, context) = loopBound.value
            switch result {
            case .failure(let error):
                proxy.respond(503, "upstream connect failed: \(error)", event: finished, started: started, context: context)
            case .success(let upstream):
                proxy.forward(request, body, over: upstream, event: finished, started: started, context: context)
            }
        }
    }

    /// Sends the request on the upstream tunnel and relays its response.
    private func forward(_ request: HTTPRequestHead, _ body: ByteBuffer, over upstream: Channel, event: ConnectionEvent,
                         started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        let relay = UpstreamResponse(downstream: context, onEnd: { [ztunnel] status in
            ztunnel.logEvent(Self.answered(event, status: status, since: started))
            upstream.close(promise: nil)
        })
        do {
            let pipeline = upstream.pipeline.syncOperations
            try pipeline.addHandler(HTTPRequestEncoder())
            try pipeline.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
            try pipeline.addHandler(relay)
            let holdback = try pipeline.handler(type: Holdback.self)
            holdback.release(try pipeline.context(handler: holdback))
        } catch {
            upstream.close(promise: nil)
            respond(503, "upstream pipeline: \(error)", event: event, started: started, context: context)
            return
        }
        upstream.setOption(.autoRead, value: true).whenFailure { _ in }
        var head = request
        head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        upstream.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { upstream.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        upstream.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    private func respond(_ status: Int, _ text: String, event: ConnectionEvent, started: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status))
        head.headers.add(name: "content-length", value: String(text.utf8.count + 1))
        head.headers.add(name: "content-type", value: "text/plain")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text + "\n")))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        var done = Self.answered(event, status: status, since: started)
        done.error = status == 403 ? nil : text
        ztunnel.logEvent(done)
    }

    /// The request's closing log line: its status and how long it took.
    private static func answered(_ event: ConnectionEvent, status: Int, since started: ContinuousClock.Instant) -> ConnectionEvent {
        var done = event.closed(sent: 0, received: 0, since: started)
        (done.bytesSent, done.bytesRecv) = (nil, nil)
        done.status = status
        return done
    }
}

/// Relays an upstream response to the downstream stream, part by part.
final class UpstreamResponse: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    private let downstream: ChannelHandlerContext
    private let onEnd: (Int) -> Void
    private var status = 0

    init(downstream: ChannelHandlerContext, onEnd: @escaping (Int) -> Void) {
        self.downstream = downstream
        self.onEnd = onEnd
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            downstream.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        case .body(let bytes):
            downstream.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(bytes))), promise: nil)
        case .end(let trailers):
            downstream.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers)), promise: nil)
            onEnd(status)
        }
    }
}
