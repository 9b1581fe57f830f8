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

extension ZTunnel {
    /// At most this many tunnels share one HBONE connection; then another is opened.
    static let maxStreamsPerConnection = 100
    static let maxFrameSize = 1 << 20

    /// Opens an HBONE tunnel from `source`'s netns to `target`'s ztunnel (its pod IP, port 15008),
    /// reusing a pooled connection keyed by (source identity, destination identity, destination, source IP).
    /// Returns the pooled connection's id with the tunnel.
    func openTunnel(from source: Workload, to target: Workload, authority: String, downstream: Channel, id: String)
        -> (connection: String, tunnel: EventLoopFuture<Channel>)
    {
        let sourceIdentity = identity(of: source)
        let targetIdentity = identity(of: target)
        let key = "\(sourceIdentity.uri)|\(targetIdentity.uri)|\(target.address):15008|\(source.address)"
        let entry: PooledConnection
        if let reusable = hbonePool[key, default: []].first(where: { !$0.closed && $0.streams < Self.maxStreamsPerConnection }) {
            entry = reusable
        } else {
            let ready = eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
            entry = PooledConnection(id: nextID(), ready: ready.futureResult)
            hbonePool[key, default: []].append(entry)
            connectHBONE(from: source, sourceIdentity, to: target, targetIdentity, opened: { entry.channel = $0 }) { [weak self] in
                entry.closed = true
                self?.hbonePool[key]?.removeAll { $0.closed }
            }.cascade(to: ready)
        }
        entry.streams += 1
        let status = eventLoop.makePromise(of: Int.self)
        let request = connectHeaders(source: source, downstream: downstream, authority: authority, id: id)
        let tunnel = entry.ready.flatMap { multiplexer -> EventLoopFuture<Channel> in
            let stream = self.eventLoop.makePromise(of: Channel.self)
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
        "00-\(randomIDs.traceID())-\(ConnectionEvent.spanID(for: id))-00"
    }

    /// Connects, checks the peer's SPIFFE id, and sets up HTTP/2. `released` runs when the connection is gone.
    private func connectHBONE(from source: Workload, _ sourceIdentity: SpiffeID, to target: Workload, _ targetIdentity: SpiffeID,
                              opened: @escaping (Channel) -> Void, released: @escaping () -> Void)
        -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
    {
        guard let tls else { return eventLoop.makeFailedFuture(HBONEError.noCertificate(sourceIdentity)) }
        let context: NIOSSLContext
        do { context = try tls.clientContext(for: sourceIdentity) } catch { return eventLoop.makeFailedFuture(error) }
        let verified = eventLoop.makePromise(of: SpiffeID.self)
        let trustDomain = tls.trustDomain
        let placement = socketPlacement(for: source)
        let multiplexer = PodSockets.connect(netns: placement.netns, host: target.address, port: 15008, source: placement.source,
                                             timeout: connectTimeout, pool: pool, eventLoop: eventLoop)
            .flatMap { fd in
                ClientBootstrap(group: self.eventLoop)
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
                        mode: .client, connectionConfiguration: Self.http2Connection, streamConfiguration: Self.http2Stream
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

    /// HTTP/2 settings HBONE uses, ztunnel's (src/config.rs: 4 MiB stream window, 16 MiB connection
    /// window, 1 MiB frames), and the limits that keep an abusive peer from costing more than that
    /// connection (Tests/EndToEndTests/HTTP2AbuseEndToEndTests). Both ends use them: MeshLab's pool
    /// and 15008.
    static var http2Connection: NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            // 100: what MeshLab's and ztunnel's pools open per connection (ztunnel's server says 200,
            // src/proxy/h2/server.rs), and what NIO holds to anyway until our SETTINGS is ACKed. One
            // stream more ends the connection with GOAWAY PROTOCOL_ERROR, as nghttp2 (Envoy) does past
            // an ACKed limit; h2 (ztunnel, hyper) refuses just that stream (RST_STREAM REFUSED_STREAM),
            // and so does nghttp2 before the ACK. NIO 1.46 has no option for either.
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxStreamsPerConnection),
            HTTP2Setting(parameter: .initialWindowSize, value: 4 << 20),
            HTTP2Setting(parameter: .maxFrameSize, value: maxFrameSize),
            // ztunnel's server: 64 KiB, "we know we are going to receive a bounded set of headers"
            // (a CONNECT's are under 1 KiB). Said, since a peer may otherwise assume no limit.
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 << 10),
            // HPACK's default table (RFC 7541), said outright: what decoding a peer's headers may keep.
            HTTP2Setting(parameter: .headerTableSize, value: 4096),
        ]
        configuration.targetWindowSize = 16 << 20
        configuration.limitAbuse()
        return configuration
    }

    static var http2Stream: NIOHTTP2Handler.StreamConfiguration {
        var configuration = NIOHTTP2Handler.StreamConfiguration()
        configuration.targetWindowSize = 4 << 20
        configuration.limitResets()
        return configuration
    }
}
