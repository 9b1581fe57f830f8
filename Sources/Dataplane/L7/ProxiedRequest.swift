import Foundation
import NIOCore
import NIOHTTP1

/// One request through the L7 proxy, from its route to the relayed response: authorization, faults,
/// then attempts upstream (a retry after a connect failure, a reset before the answer, or a 503,
/// while the rule allows) within the rule's timeout.
final class ProxiedRequest: @unchecked Sendable {
    let request: HTTPRequestHead
    private let proxy: L7Proxy
    private let context: ChannelHandlerContext
    private let body: RequestBody
    private let started = ContinuousClock.now
    private var sourceIP: String { proxy.sourceIP }
    private var event: ConnectionEvent
    private var labels = RequestMetrics.Labels()
    private var decision = RouteTable.Decision()
    private var attempts = 0
    /// The response head has gone downstream: from here on there is no retry and no local answer.
    private var relayed = false
    /// The whole answer has been written.
    private var answered = false
    private var done = false
    /// The upgrade (WebSocket) it asks for, passed on to the upstream.
    private let upgrade: String?
    /// No request follows this one on its connection: HTTP/1.0 or `Connection: close`, or one asking
    /// to leave HTTP (an upgrade, CONNECT), after which the downstream decoder reads no more.
    let endsConnection: Bool
    private var deadline: Scheduled<Void>?
    private var current: UpstreamExchange?
    /// The response is not being read: the client has not taken what it was sent.
    private var responsePaused = false

    private var inputs: L7Inputs { proxy.inputs }

    init(proxy: L7Proxy, context: ChannelHandlerContext, request: HTTPRequestHead, body: RequestBody) {
        var request = request
        if request.headers.first(name: "x-request-id") == nil { request.headers.add(name: "x-request-id", value: proxy.inputs.randomIDs.requestID()) }
        self.request = request
        upgrade = ProtocolUpgrade.requested(request)  // HTTP/1.1 only: h2c requests come as HTTP/2
        endsConnection = (!request.isKeepAlive && request.version.major == 1) || ProtocolUpgrade.endsHTTP(request)
        self.proxy = proxy
        self.context = context
        self.body = body
        let leg = proxy.leg
        event = ConnectionEvent(event: .request, id: proxy.inputs.ids.next(), direction: leg.direction)
        event.srcAddr = proxy.source
        event.srcIdentity = leg == .sidecarOutbound ? proxy.inputs.identity(of: proxy.proxied).uri : proxy.peer?.uri
        event.srcNamespace = leg == .sidecarOutbound ? proxy.proxied.namespace : proxy.peer?.namespace
        event.dstAddr = "\(proxy.target.ip):\(proxy.target.port)"
        event.dstService = proxy.target.service?.hostname
        event.method = request.method.rawValue
        event.path = request.uri
        event.requestID = request.headers.first(name: "x-request-id")
        let caller = leg == .sidecarOutbound ? proxy.proxied : proxy.inputs.mesh()?.workload(at: sourceIP)
        labels.reporter = leg.reporter
        labels.sourceWorkload = caller?.name ?? "unknown"
        labels.sourceNamespace = caller?.namespace ?? proxy.peer?.namespace ?? "unknown"
        labels.sourcePrincipal = leg == .sidecarOutbound ? event.srcIdentity ?? "unknown" : proxy.peer?.uri ?? "unknown"
        labels.requestProtocol = request.version.major == 2 ? "http2" : "http"
    }

    func start() {
        guard let mesh = inputs.mesh() else { return answer(503, "no config", flags: "UH") }
        // A sidecar leaves the routing of a service with a waypoint to that waypoint.
        if proxy.leg.routes && (proxy.leg == .waypoint || proxy.target.service?.waypoint == nil) {
            decision = inputs.routes.decide(request, to: proxy.target.service, port: proxy.target.port, in: mesh)
        }
        event.route = decision.rule
        let routed = decision.backend.map { L7Proxy.Target(ip: $0.service.vips.first ?? "", port: $0.port, service: $0.service) } ?? proxy.target
        event.dstService = routed.service?.hostname ?? event.dstService
        labels.destinationService = event.dstService ?? "unknown"
        guard let upstream = next(routed) else {
            return answer(503, "no healthy upstream", flags: "UH")
        }
        aim(at: upstream)
        if proxy.leg != .sidecarOutbound {  // the client side authorizes nothing
            guard let destination = upstream.workload else { return answer(503, "no healthy upstream", flags: "UH") }
            let facts = ConnectionFacts(sourceIdentity: proxy.peer, sourceIP: sourceIP,
                                        destinationIP: destination.address, destinationPort: upstream.port, destination: destination,
                                        method: request.method.rawValue, path: request.uri)
            let verdict = authorize(facts, policies: inputs.upstreams.policies(on: proxy.leg, of: proxy.proxied))
            event.allowed = verdict.allowed
            event.policy = verdict.policy
            event.reason = verdict.reason
            guard verdict.allowed else { return answer(403, "RBAC: access denied", flags: "-") }
        }
        let proceed: @Sendable () -> Void = {
            guard !self.done else { return }  // the client went away during a delay
            if let status = self.decision.abortStatus { return self.answer(status, "fault filter abort", flags: "FI") }
            if let timeout = self.decision.timeoutMilliseconds {
                self.deadline = self.context.eventLoop.scheduleTask(in: .milliseconds(Int64(timeout))) { self.timedOut() }
            }
            self.attempt(routed, to: upstream)
        }
        if let delay = decision.delayMilliseconds {
            labels.responseFlags = "DI"
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(delay))) { proceed() }
        } else {
            proceed()
        }
    }

    /// Where the request goes next (a new pick of endpoint on every call).
    private func next(_ routed: L7Proxy.Target) -> Upstream? {
        inputs.upstreams.upstream(on: proxy.leg, of: proxy.proxied, to: routed, sourceIP: sourceIP)
    }

    private func aim(at upstream: Upstream) {
        event.dstWorkload = upstream.workload?.name
        event.dstIdentity = upstream.workload.map { inputs.identity(of: $0).uri }
        event.upstreamHost = upstream.key
        if case .hbone(let next, _) = upstream.carrier { event.dstHboneAddr = "\(next.address):15008" } else { event.dstHboneAddr = nil }
        labels.destinationWorkload = upstream.workload?.name ?? "unknown"
        labels.destinationNamespace = upstream.workload?.namespace ?? "unknown"
        labels.destinationPrincipal = event.dstIdentity ?? "unknown"
    }

    private func attempt(_ routed: L7Proxy.Target, to upstream: Upstream) {
        attempts += 1
        aim(at: upstream)
        proxy.exchange(to: upstream, context: context, id: event.id).whenComplete { result in
            guard !self.done else { return }
            switch result {
            case .failure(let error):
                self.retry(routed, else: (503, "upstream connect error: \(error)", "UF"))
            case .success(let connection):
                self.current = connection
                self.event.hboneConnection = connection.hboneConnection
                connection.send(self.upstreamHead(), self.body, .init(
                    head: { head in
                        // Istio retries a 503 by default; the last attempt's answer goes back as it is.
                        if head.status == .serviceUnavailable && self.attempts <= self.decision.retries && self.body.retryable { return false }
                        self.relay(head)
                        return true
                    },
                    body: { self.relayBody($0) },
                    end: { trailers in
                        guard !self.done else { return }
                        // Answered before the request was all sent: that connection is mid-request.
                        if !self.body.ended { self.leave(connection) }
                        guard self.relayed else { return self.retry(routed, else: (503, "upstream answered 503", "URX")) }
                        self.answered = true
                        self.context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers)), promise: nil)
                        guard self.upgrade != nil, self.event.status == 101, let upstream = connection as? UpstreamConnection else { return self.complete() }
                        self.switchProtocols(to: upstream)
                    },
                    flush: { if self.relayed && !self.done { self.context.flush() } },
                    failed: { _ in
                        guard !self.done else { return }
                        self.leave(connection)
                        guard !self.relayed else { return self.complete(flags: "UC", closing: true) }
                        self.retry(routed, else: (503, "upstream connect error or disconnect/reset before headers", "UC"))
                    },
                    sendMore: { self.proxy.updateReading(context: self.context) }))
            }
        }
    }

    /// 101: both connections are glued byte for byte, without the route's timeout (a WebSocket lives
    /// as long as its ends want); the request is logged when they close.
    private func switchProtocols(to upstream: UpstreamConnection) {
        deadline?.cancel()
        do {
            try proxy.upgrade(context, to: upstream) { self.complete() }
        } catch {
            context.close(promise: nil)
            upstream.abandon()
            complete(flags: "UC")
        }
    }

    /// A response part goes to the client; one it cannot take yet stops reading the response until
    /// it can (Envoy's flow control): a slow client holds the server back, not the proxy's memory.
    private func relayBody(_ part: ByteBuffer) {
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(part))), promise: nil)
        if !responsePaused && !context.channel.isWritable {
            responsePaused = true
            current?.readResponse(false)
        }
    }

    /// The client can take more again (or the request is over: its upstream may serve the next one).
    func resumeResponse() {
        guard responsePaused else { return }
        responsePaused = false
        current?.readResponse(true)
    }

    /// Stops using an attempt's exchange: the body stops flowing there, and it is not reused.
    private func leave(_ exchange: UpstreamExchange) {
        body.detach()
        proxy.discard(exchange)
    }

    private func retry(_ routed: L7Proxy.Target, else failure: (status: Int, text: String, flags: String)) {
        if attempts <= decision.retries, body.retryable, let upstream = next(routed) {
            attempt(routed, to: upstream)
        } else {
            answer(failure.status, failure.text, flags: failure.flags)
        }
    }

    private func timedOut() {
        guard !done else { return }
        if let current { leave(current) }
        guard !relayed else { return complete(flags: "UT", closing: true) }
        answer(504, "upstream request timeout", flags: "UT")
    }

    /// The request as it goes upstream: HTTP/1.1, without hop-by-hop headers (but `te: trailers`,
    /// which gRPC needs), with its length when it has all arrived (else the client's, or chunked).
    private func upstreamHead() -> HTTPRequestHead {
        var head = request
        head.version = .http1_1
        let trailers = head.headers["te"].contains { $0.lowercased().contains("trailers") }
        Self.hopByHop.forEach { head.headers.remove(name: $0) }
        if trailers { head.headers.add(name: "te", value: "trailers") }
        if let upgrade { head.headers.add(contentsOf: [("connection", "upgrade"), ("upgrade", upgrade)]) }
        if body.ended { head.headers.replaceOrAdd(name: "content-length", value: String(body.kept.readableBytes)) }
        if head.headers["host"].isEmpty { head.headers.add(name: "host", value: "\(proxy.target.ip):\(proxy.target.port)") }
        return head
    }

    private func relay(_ upstream: HTTPResponseHead) {
        var head = upstream
        head.version = request.version.major == 1 ? request.version : .http1_1
        Self.hopByHop.forEach { head.headers.remove(name: $0) }
        if let upgrade, head.status == .switchingProtocols {
            head.headers.add(contentsOf: [("connection", "upgrade"), ("upgrade", upgrade)])
        } else if endsConnection {
            head.headers.add(name: "connection", value: "close")
        }
        relayed = true
        event.status = Int(head.status.code)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }

    /// The waypoint's own answer (Envoy's local reply): a denial, a fault, a timeout, no upstream.
    private func answer(_ status: Int, _ text: String, flags: String) {
        guard !done else { return }
        var head = HTTPResponseHead(version: request.version.major == 1 ? request.version : .http1_1, status: HTTPResponseStatus(statusCode: status))
        head.headers.add(name: "content-length", value: String(text.utf8.count + 1))
        head.headers.add(name: "content-type", value: "text/plain")
        if endsConnection { head.headers.add(name: "connection", value: "close") }
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text + "\n")))), promise: nil)
        answered = true
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        event.status = status
        if status != 403 { event.error = text }
        complete(flags: flags)
    }

    /// The client went away before the whole answer: the request ends here, logged with Envoy's
    /// flag — DR when it reset its HTTP/2 stream, DC when its connection ended. (An HTTP/2 stream
    /// closes as the answer's last frame goes out: that is neither.)
    func downstreamClosed(reset: Bool) {
        guard !answered else { return }
        if let current { leave(current) }
        complete(flags: reset ? "DR" : "DC")
    }

    /// The request's log line (its decision, status, route, upstream, attempts, flags, duration) and
    /// its count in `istio_requests_total`.
    /// `closing`: the answer is cut short, so the downstream connection is closed after the line is written.
    private func complete(flags: String? = nil, closing: Bool = false) {
        guard !done else { return }
        done = true
        deadline?.cancel()
        resumeResponse()
        body.discard()  // what the client still sends of it goes nowhere
        var line = event.closed(sent: 0, received: 0, since: started)
        (line.event, line.bytesSent, line.bytesRecv) = (.request, nil, nil)
        line.attempts = attempts
        if let flags { labels.responseFlags = flags }
        line.responseFlags = labels.responseFlags
        inputs.log.write(line)
        labels.responseCode = line.status ?? 0
        inputs.requestMetrics.record(labels, milliseconds: line.durationMs ?? 0)
        proxy.finished(self, context: context, closing: closing)
    }

    /// Headers that belong to one connection, never forwarded (and forbidden in HTTP/2).
    private static let hopByHop = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"]
}
