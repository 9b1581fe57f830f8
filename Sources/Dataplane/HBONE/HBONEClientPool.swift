import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL

/// One pooled HBONE connection (mTLS + HTTP/2) and how many tunnels it carries.
final class PooledConnection {
    /// Named like connection ids (`<node>-<n>`), so logs tell which streams shared a connection.
    let id: String
    let ready: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
    var channel: Channel?
    var closed = false
    /// Tunnels open on it; when the last one ends, the connection may idle for `idleTimeout`.
    var streams = 0 {
        didSet { if streams == 0 { scheduleIdleRelease() } else { idleRelease?.cancel() } }
    }
    private var idleRelease: Scheduled<Void>?

    /// Idle pooled connections are released after five minutes, as ztunnel's pool does.
    static let idleTimeout = TimeAmount.minutes(5)

    init(id: String, ready: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>) {
        self.id = id
        self.ready = ready
    }

    private func scheduleIdleRelease() {
        guard let channel else { return }
        idleRelease = channel.eventLoop.scheduleTask(in: Self.idleTimeout) { [weak self] in
            guard let self, self.streams == 0 else { return }
            self.closed = true
            channel.close(promise: nil)
        }
    }
}

/// ztunnel's outbound connection pool (src/proxy/pool.rs): HBONE connections keyed by source and
/// destination identity and address, each carrying up to 100 tunnels (CONNECT streams).
final class HBONEClientPool: @unchecked Sendable {  // used on its process's one event loop
    private let inputs: ProxyInputs
    /// Where this process's HBONE connections are made from (a source workload's netns, or its own).
    private let mode: CaptureMode
    private var connections: [String: [PooledConnection]] = [:]

    init(inputs: ProxyInputs, mode: CaptureMode) {
        self.inputs = inputs
        self.mode = mode
    }

    /// Connections open or opening (what a dump counts).
    var pooledConnections: Int { connections.values.reduce(0) { $0 + $1.filter { !$0.closed }.count } }

    /// Opens an HBONE tunnel from `source`'s netns to `target`'s ztunnel (its pod IP, port 15008),
    /// reusing a pooled connection keyed by (source identity, destination identity, destination, source IP).
    /// Returns the pooled connection's id with the tunnel.
    func openTunnel(from source: Workload, to target: Workload, authority: String, downstream: Channel, id: String)
        -> (connection: String, tunnel: EventLoopFuture<Channel>)
    {
        let sourceIdentity = inputs.identity(of: source)
        let targetIdentity = inputs.identity(of: target)
        let key = "\(sourceIdentity.uri)|\(targetIdentity.uri)|\(target.address):15008|\(source.address)"
        let entry: PooledConnection
        if let reusable = connections[key, default: []].first(where: { !$0.closed && $0.streams < HBONESettings.maxStreamsPerConnection }) {
            entry = reusable
        } else {
            let ready = inputs.eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
            entry = PooledConnection(id: inputs.nextID(), ready: ready.futureResult)
            connections[key, default: []].append(entry)
            connectHBONE(from: source, sourceIdentity, to: target, targetIdentity, opened: { entry.channel = $0 }) { [weak self] in
                entry.closed = true
                self?.connections[key]?.removeAll { $0.closed }
            }.cascade(to: ready)
        }
        entry.streams += 1
        let status = inputs.eventLoop.makePromise(of: Int.self)
        let request = connectHeaders(source: source, downstream: downstream, authority: authority, id: id)
        let tunnel = entry.ready.flatMap { multiplexer -> EventLoopFuture<Channel> in
            let stream = self.inputs.eventLoop.makePromise(of: Channel.self)
            multiplexer.createStreamChannel(promise: stream) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(HBONEStream(.client(request: request, status: status)))
                    try channel.pipeline.syncOperations.addHandler(Holdback())
                }
            }
            return stream.futureResult
        }.flatMap { (stream: Channel) -> EventLoopFuture<Channel> in
            stream.closeFuture.whenComplete { _ in entry.streams -= 1 }
            return status.futureResult.flatMapThrowing { code in
                guard code == 200 else { throw HBONEError.status(code) }
                return stream
            }
        }.flatMapErrorThrowing { error in
            entry.streams -= 1
            status.fail(error)
            throw error
        }
        return (entry.id, tunnel)
    }

    /// The CONNECT request: authority, and the baggage / forwarded / traceparent headers ztunnel sends.
    private func connectHeaders(source: Workload, downstream: Channel, authority: String, id: String) -> HPACKHeaders {
        let peer = downstream.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? source.address
        let baggage = "k8s.cluster.name=Kubernetes,k8s.namespace.name=\(source.namespace),k8s.pod.name=\(source.name)," +
            "service.name=\(source.labels["app"] ?? source.name),service.version=\(source.labels["version"] ?? "latest")"
        return [
            ":method": "CONNECT", ":authority": authority,
            "baggage": baggage, "forwarded": "for=\"\(peer)\"", "traceparent": traceparent(id),
        ]
    }

    /// W3C traceparent whose span id carries the outbound connection id, so hops can be joined.
    func traceparent(_ id: String) -> String {
        "00-\(inputs.randomIDs.traceID())-\(ConnectionEvent.spanID(for: id))-00"
    }

    /// Connects, checks the peer's SPIFFE id, and sets up HTTP/2. `released` runs when the connection is gone.
    private func connectHBONE(from source: Workload, _ sourceIdentity: SpiffeID, to target: Workload, _ targetIdentity: SpiffeID,
                              opened: @escaping (Channel) -> Void, released: @escaping () -> Void)
        -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
    {
        let eventLoop = inputs.eventLoop
        guard let tls = inputs.tls else { return eventLoop.makeFailedFuture(HBONEError.noCertificate(sourceIdentity)) }
        let context: NIOSSLContext
        do { context = try tls.clientContext(for: sourceIdentity) } catch { return eventLoop.makeFailedFuture(error) }
        let verified = eventLoop.makePromise(of: SpiffeID.self)
        let trustDomain = tls.trustDomain
        let placement = mode.placement(for: source)
        let multiplexer = PodSockets.connect(netns: placement.netns, host: target.address, port: 15008, source: placement.source,
                                             timeout: inputs.connectTimeout, pool: inputs.pool, eventLoop: eventLoop)
            .flatMap { fd in
                ClientBootstrap(group: eventLoop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let pipeline = channel.pipeline.syncOperations
                            try pipeline.addHandler(IdleStateHandler(readTimeout: HBONEKeepalive.silence))
                            try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                            try pipeline.addHandler(WholeFrames(server: false))
                            try pipeline.addHandler(PeerIdentityHandler(trustDomain: trustDomain, expected: [targetIdentity], verified: verified))
                        }
                    }
                    .withConnectedSocket(fd)
            }
            .flatMap { channel in
                channel.closeFuture.whenComplete { _ in released() }
                opened(channel)
                return verified.futureResult.flatMapThrowing { _ in
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: HBONESettings.connection, streamConfiguration: HBONESettings.stream
                    ) { $0.eventLoop.makeSucceededVoidFuture() }
                    try channel.pipeline.syncOperations.addHandlers(HBONEKeepalive(goingAway: released), CloseOnConnectionError())
                    return multiplexer
                }
            }
        multiplexer.whenFailure { _ in
            verified.fail(ChannelError.ioOnClosedChannel)
            released()
        }
        return multiplexer
    }
}
