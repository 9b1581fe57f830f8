import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// The bundled client: makes calls one after another, each on a new connection, and reports
/// every call's result (run inside a pod's netns with `meshlab exec … -- meshlab client`).
public struct TrafficClient: Sendable {
    public enum Scheme: String, Sendable, CaseIterable, Codable { case http, h2, tcp }

    public var host: String
    public var port: Int
    public var `protocol`: Scheme
    public var path: String
    public var payloadSize: Int
    public var timeout: TimeAmount
    public var headers: [(String, String)]
    /// Raw TCP: keep the connection open this long after sending, before half-closing (a long-lived connection).
    public var hold: TimeAmount
    /// A marker sent in every call (raw TCP payload, HTTP header), so captures can look for it on the wire.
    public var canary: String?
    /// The HTTP method; nil: GET, or POST when there is a payload.
    public var method: String?

    public init(host: String, port: Int, protocol: Scheme = .http, path: String = "/", payloadSize: Int = 0,
                timeout: TimeAmount = .seconds(5), headers: [(String, String)] = [], hold: TimeAmount = .zero, canary: String? = nil,
                method: String? = nil) {
        self.method = method
        self.hold = hold
        self.canary = canary
        self.host = host
        self.port = port
        self.protocol = `protocol`
        self.path = path
        self.payloadSize = payloadSize
        self.timeout = timeout
        self.headers = headers
    }

    public var target: String { "\(host):\(port)" }

    /// Makes `count` calls; `each` sees every result as it completes.
    public func run(count: Int, group: EventLoopGroup, each: (CallResult) -> Void = { _ in }) -> [CallResult] {
        (1...max(1, count)).map { number in
            let result = call(number, group: group)
            each(result)
            return result
        }
    }

    public func call(_ number: Int, group: EventLoopGroup) -> CallResult {
        let started = DispatchTime.now()
        var result = CallResult(call: number, target: target, protocol: `protocol`.rawValue, outcome: .failed,
                                status: nil, reply: nil, echoIntact: nil, error: nil, milliseconds: 0, source: nil)
        do {
            switch `protocol` {
            case .http, .h2:
                let response = try exchangeHTTP(group: group, source: &result.source)
                result.status = response.status
                result.reply = try? JSONDecoder().decode(EchoReply.self, from: response.body)
                result.outcome = .ok
            case .tcp:
                // At least one byte goes out so the echo server knows this is raw TCP.
                let payload = tcpPayload()
                let received = try exchangeBytes(payload, group: group, source: &result.source)
                let newline = received.firstIndex(of: UInt8(ascii: "\n")) ?? received.endIndex
                result.reply = try? JSONDecoder().decode(EchoReply.self, from: Data(received[..<newline]))
                result.echoIntact = Array(received.dropFirst(newline + 1)) == payload
                if received.isEmpty {
                    // Closed by the peer (FIN or RST, whichever won the race) before any answer.
                    (result.outcome, result.error) = (.reset, "connection closed before an answer")
                } else {
                    result.outcome = result.reply == nil ? .failed : .ok
                    if result.reply == nil { result.error = "no echo greeting in \(received.count) bytes" }
                }
            }
        } catch {
            (result.outcome, result.error) = Self.classify(error)
        }
        result.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        return result
    }

    static func classify(_ error: Error) -> (CallResult.Outcome, String) {
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return (.refused, "connection refused")
            case ECONNRESET, EPIPE, ENOTCONN: return (.reset, "connection reset")
            case ETIMEDOUT: return (.timeout, "timed out")
            case EHOSTUNREACH, ENETUNREACH: return (.unreachable, "no route to host")
            default: break
            }
        }
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first {
            return classify(first.error)
        }
        if case ChannelError.connectTimeout = error { return (.timeout, "connect timed out") }
        if error is CallTimedOut { return (.timeout, "no answer in time") }
        if case ChannelError.eof = error { return (.reset, "connection closed before an answer") }
        if case ChannelError.ioOnClosedChannel = error { return (.reset, "connection closed while sending") }
        if case ChannelError.alreadyClosed = error { return (.reset, "connection closed while sending") }
        return (.failed, "\(error)")
    }

    /// Connects; when that fails, `pending` fails too so no promise is left unanswered.
    /// `source` is the connection's own address (ip:port), by which kernel evidence finds it.
    private func connect<T>(group: EventLoopGroup, failing pending: EventLoopPromise<T>, source: inout String?,
                            _ initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>) throws -> Channel {
        do {
            let channel = try ClientBootstrap(group: group)
                .connectTimeout(timeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelInitializer(initializer)
                .connect(host: host, port: port).wait()
            source = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
            return channel
        } catch {
            pending.fail(error)
            throw error
        }
    }

    /// Raw TCP bytes: the canary first, so it is on the wire in every call, then a counting pattern.
    func tcpPayload() -> [UInt8] {
        let marker = Array((canary ?? "").utf8)
        let size = max(payloadSize, marker.isEmpty ? 4 : marker.count)
        return marker + (marker.count..<size).map { UInt8(truncatingIfNeeded: $0 % 251 + 1) }
    }

    private func exchangeHTTP(group: EventLoopGroup, source: inout String?) throws -> HTTPResponse {
        let promise = group.next().makePromise(of: HTTPResponse.self)
        var head = HTTPRequestHead(version: .http1_1, method: method.map { HTTPMethod(rawValue: $0.uppercased()) } ?? (payloadSize > 0 ? .POST : .GET), uri: path)
        head.headers.add(name: "host", value: target)
        head.headers.add(name: "user-agent", value: "meshlab-client")
        head.headers.add(contentsOf: headers)
        if let canary { head.headers.add(name: "x-meshlab-canary", value: canary) }
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: payloadSize)
        if payloadSize > 0 { head.headers.add(name: "content-length", value: String(payloadSize)) }
        let request = HTTPRequest(head: head, body: body)
        let channel: Channel
        switch `protocol` {
        case .h2:
            channel = try connect(group: group, failing: promise, source: &source) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let streams = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()) { $0.eventLoop.makeSucceededVoidFuture() }
                    streams.createStreamChannel(promise: nil) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandlers(
                                HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http),
                                HTTPResponseCollector(request: request, promise: promise))
                        }
                    }
                }
            }
        default:
            channel = try connect(group: group, failing: promise, source: &source) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPResponseCollector(request: request, promise: promise))
                }
            }
        }
        defer { channel.close(promise: nil) }
        return try awaitWithDeadline(promise.futureResult, channel: channel)
    }

    private func exchangeBytes(_ payload: [UInt8], group: EventLoopGroup, source: inout String?) throws -> [UInt8] {
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel = try connect(group: group, failing: promise, source: &source) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteCollector(promise: promise))
            }
        }
        defer { channel.close(promise: nil) }
        try channel.writeAndFlush(ByteBuffer(bytes: payload)).wait()
        if hold > .zero {
            // Held open: a connection ended by the other side while held (a policy change, say) ends the call.
            let held = channel.eventLoop.scheduleTask(in: hold) {}
            channel.closeFuture.whenComplete { _ in held.cancel() }  // no-op once the hold is over
            guard (try? held.futureResult.wait()) != nil else { throw ChannelError.eof }
        }
        // The peer may already have closed (a refusal by policy, say): what arrived decides the call.
        try? channel.close(mode: .output).wait()
        return try awaitWithDeadline(promise.futureResult, channel: channel)
    }

    /// Waits for `future`, closing the channel when the call's time is up.
    private func awaitWithDeadline<T: Sendable>(_ future: EventLoopFuture<T>, channel: Channel) throws -> T {
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            channel.pipeline.fireUserInboundEventTriggered(CallTimedOut())
        }
        defer { deadline.cancel() }
        return try future.wait()
    }
}

/// The call ran out of time.
struct CallTimedOut: Error {}

struct HTTPRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
}

struct HTTPResponse: Sendable {
    var status: Int
    var body: Data
}
