import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Keep-alive HTTP/1.1 load, as fortio or wrk apply it: `connections` connections, each sending a
/// request as soon as the previous one is answered, paced to `rate` requests per second in total
/// (nil: as fast as answers come), for `duration`. Latency is measured per request.
public struct LoadGenerator: Sendable {
    public var host: String
    public var port: Int
    public var connections: Int
    public var rate: Double?
    public var duration: TimeAmount

    public init(host: String, port: Int, connections: Int, rate: Double?, duration: TimeAmount) {
        self.host = host
        self.port = port
        self.connections = connections
        self.rate = rate
        self.duration = duration
    }

    public func run(group: EventLoopGroup) throws -> LoadSummary {
        let started = NIODeadline.now()
        let deadline = started + duration
        // Each connection sends every `interval`; together they make `rate`.
        let interval = rate.map { TimeAmount.nanoseconds(Int64(Double(connections) / $0 * 1e9)) }
        let runs = try (0..<connections).map { _ -> EventLoopFuture<[Double]> in
            let loop = group.next()
            let done = loop.makePromise(of: [Double].self)
            let requester = PacedRequester(host: "\(host):\(port)", interval: interval, deadline: deadline, done: done)
            let channel = try ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(requester)
                    }
                }
                .connect(host: host, port: port).wait()
            return done.futureResult.always { _ in channel.close(promise: nil) }
        }
        var latencies: [Double] = []
        var errors = 0
        for run in runs {
            do { latencies += try run.wait() } catch { errors += 1 }
        }
        let seconds = Double((NIODeadline.now() - started).nanoseconds) / 1e9
        return LoadSummary(latencies: latencies, errors: errors, seconds: seconds)
    }
}

/// What a load run measured: requests answered, failed connections, latency percentiles in ms.
public struct LoadSummary: Codable, Sendable {
    public var requests: Int
    public var errors: Int
    public var seconds: Double
    public var requestsPerSecond: Double
    public var p50: Double
    public var p90: Double
    public var p99: Double

    /// Each figure's median over several runs (errors: the sum).
    public static func median(_ runs: [LoadSummary]) -> LoadSummary {
        func middle(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        var summary = runs[runs.count / 2]
        summary.errors = runs.reduce(0) { $0 + $1.errors }
        summary.requestsPerSecond = middle(runs.map(\.requestsPerSecond))
        (summary.p50, summary.p90, summary.p99) = (middle(runs.map(\.p50)), middle(runs.map(\.p90)), middle(runs.map(\.p99)))
        return summary
    }

    init(latencies: [Double], errors: Int, seconds: Double) {
        let sorted = latencies.sorted()
        let at = { (q: Double) in sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        self.requests = sorted.count
        self.errors = errors
        self.seconds = seconds
        self.requestsPerSecond = Double(sorted.count) / max(seconds, 1e-9)
        (p50, p90, p99) = (at(0.5), at(0.9), at(0.99))
    }
}

/// One connection's request loop; completes with its latencies (ms) at the deadline.
final class PacedRequester: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let host: String
    private let interval: TimeAmount?
    private let deadline: NIODeadline
    private let done: EventLoopPromise<[Double]>
    private var latencies: [Double] = []
    private var next = NIODeadline.now()
    private var sentAt = NIODeadline.now()
    private var finished = false

    init(host: String, interval: TimeAmount?, deadline: NIODeadline, done: EventLoopPromise<[Double]>) {
        self.host = host
        self.interval = interval
        self.deadline = deadline
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    private func send(_ context: ChannelHandlerContext) {
        guard NIODeadline.now() < deadline else {
            finish(.success(latencies))
            return
        }
        // Paced: wait for this request's slot (a late answer sends the next one at once).
        let now = NIODeadline.now()
        if let interval, next > now {
            let slot = next
            context.eventLoop.scheduleTask(deadline: slot) { self.write(context) }
        } else {
            write(context)
        }
        if let interval { next = max(next, now) + interval }
    }

    private func write(_ context: ChannelHandlerContext) {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        head.headers.add(name: "host", value: host)
        sentAt = NIODeadline.now()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        latencies.append(Double((NIODeadline.now() - sentAt).nanoseconds) / 1e6)
        send(context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.eof))
        context.fireChannelInactive()
    }

    private func finish(_ result: Result<[Double], Error>) {
        guard !finished else { return }
        finished = true
        done.completeWith(result)
    }
}
