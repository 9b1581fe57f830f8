import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// An HBONE listener (15008): mutual TLS with the identity of the workload each connection is for,
/// client certificate required, then HTTP/2 whose CONNECT streams go to `accept`. Keeps its
/// connections, to tell them to go away (GOAWAY) when the process drains.
final class HBONEServer: @unchecked Sendable {  // used on its process's one event loop
    /// Decides one CONNECT on `stream` of `connection` (its verified peer in its PeerIdentityHandler).
    typealias Accept = @Sendable (_ headers: HPACKHeaders, _ stream: Channel, _ connection: Channel) -> EventLoopFuture<HBONEStream.Acceptance>

    let inputs: ProxyInputs
    private var connections: [ObjectIdentifier: Channel] = [:]

    init(inputs: ProxyInputs) { self.inputs = inputs }

    /// Serves the listening socket `fd`; `destination` names the workload a new connection is for
    /// (nil: none served here, the connection is refused).
    func serve(_ fd: CInt, for destination: @escaping @Sendable (Channel) -> Workload?, accept: @escaping Accept) -> EventLoopFuture<Channel> {
        guard inputs.tls != nil else { return inputs.eventLoop.makeFailedFuture(HBONEError.notConfigured) }
        let inputs = self.inputs
        return ServerBootstrap(group: inputs.eventLoop)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                inputs.isOwn(channel).flatMapThrowing { own in
                    guard !own else { return inputs.refuseOwn(channel) }
                    guard let tls = inputs.tls, let workload = destination(channel) else { throw HBONEError.notServed }
                    let key = ObjectIdentifier(channel)
                    self.connections[key] = channel
                    channel.closeFuture.whenComplete { _ in self.connections[key] = nil }
                    let verified = channel.eventLoop.makePromise(of: SpiffeID.self)
                    verified.futureResult.whenFailure { self.logEarlyDeny($0, on: channel) }
                    let peer = PeerIdentityHandler(trustDomain: tls.trustDomain, expected: [], verified: verified)
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(tls.serverHandler(for: inputs.identity(of: workload), reportingTo: peer))
                    try pipeline.addHandler(WholeFrames(server: true))
                    try pipeline.addHandler(peer)
                    _ = try pipeline.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: HBONESettings.connection, streamConfiguration: HBONESettings.stream
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(HBONEStream(.server(accept: { headers, stream in
                                accept(headers, stream, channel)
                            })))
                            try stream.pipeline.syncOperations.addHandler(Holdback())
                        }
                    }
                    try pipeline.addHandler(CloseOnConnectionError())
                }
            }
            .withBoundSocket(fd)
            .always { _ in PodSockets.restoreBacklog(fd) }
    }

    /// Draining: every connection is told no new streams will be taken; open ones go on.
    func goAway() {
        let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
        for connection in connections.values { connection.writeAndFlush(goAway, promise: nil) }
    }

    /// The client identity a connection's TLS handshake verified.
    static func peer(of connection: Channel) -> SpiffeID? {
        try? connection.pipeline.syncOperations.handler(type: PeerIdentityHandler.self).identity
    }
}
