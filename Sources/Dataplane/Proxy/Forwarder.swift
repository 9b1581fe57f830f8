import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Plain upstream connections and the glue that joins them to a downstream, counting the joined
/// pairs still open: what a drain waits for.
final class Forwarder: @unchecked Sendable {
    private let inputs: ProxyInputs
    /// Proxied connection pairs still open (inbound and outbound).
    private(set) var openConnections = 0

    init(inputs: ProxyInputs) { self.inputs = inputs }

    /// A plain TCP connection from inside `netns`, paused until glued.
    /// Its socket is remembered in `own` while open, so none of this process's listeners proxies it.
    func connect(netns: String, host: String, port: Int, source: String? = nil) -> EventLoopFuture<Channel> {
        let target = "\(host):\(port)"
        let own = inputs.own
        let eventLoop = inputs.eventLoop
        let local = NIOLockedValueBox<String?>(nil)
        let socket = PodSockets.connect(netns: netns, host: host, port: port, source: source, timeout: inputs.connectTimeout, pool: inputs.pool,
                                        eventLoop: eventLoop, connecting: { own.connecting(to: target) }) { address in
            local.withLockedValue { $0 = address }
            own.started(to: target, from: address)
        }
        let connected = socket.flatMap { fd in
            ClientBootstrap(group: eventLoop)
                .channelOption(.autoRead, value: false)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Holdback()) }
                }
                .withConnectedSocket(fd)
        }
        connected.whenComplete { result in
            guard let address = local.withLockedValue({ $0 }) else { return }
            switch result {
            case .success(let channel): channel.closeFuture.whenComplete { _ in own.closed(address, to: target) }
            case .failure: own.closed(address, to: target)
            }
        }
        return connected
    }

    /// Joins two channels (each with a `Holdback`) and reports the bytes each side read when both are closed.
    func glue(_ downstream: Channel, _ upstream: Channel, closed: @escaping (_ fromDownstream: Int, _ fromUpstream: Int) -> Void) {
        var fromDownstream = 0, fromUpstream = 0, closes = 0, reported = false
        openConnections += 1
        let report = {
            guard !reported else { return }
            reported = true
            self.openConnections -= 1
            closed(fromDownstream, fromUpstream)
        }
        let (down, up) = GlueHandler.pair(onClose: { fromDownstream = $0; closes += 1; if closes == 2 { report() } },
                                          { fromUpstream = $0; closes += 1; if closes == 2 { report() } })
        do {
            // A side that ended before it was glued (an HBONE stream reset while its upstream
            // connected) would never tell its glue it closed: give the pair up, reported closed.
            guard downstream.isActive, upstream.isActive else { throw ChannelError.alreadyClosed }
            // Both halves must be in place before either side's held bytes flow.
            try downstream.pipeline.syncOperations.addHandler(down)
            try upstream.pipeline.syncOperations.addHandler(up)
            for channel in [downstream, upstream] {
                let holdback = try channel.pipeline.syncOperations.handler(type: Holdback.self)
                holdback.release(try channel.pipeline.syncOperations.context(handler: holdback))
            }
        } catch {
            downstream.close(promise: nil)
            upstream.close(promise: nil)
            report()
            return
        }
        for channel in [downstream, upstream] { channel.setOption(.autoRead, value: true).whenFailure { _ in } }
    }
}
