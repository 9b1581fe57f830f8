import NIOCore
import NIOSSL
import NIOTLS
import X509

/// The TLS side of HBONE: the mesh root and the workload certificates a ztunnel holds, turned into
/// TLS 1.3 contexts (ALPN h2, client certificates required). A server checks the client's chain and
/// trust domain inside the handshake (`serverHandler`); a client checks the server's SPIFFE id after it.
public final class MeshTLS {
    public let trustDomain: String
    private let root: NIOSSLCertificate
    private let clientVerifier: TrustDomainVerifier
    private var identities: [SpiffeID: WorkloadCertificate] = [:]
    private var clientContexts: [SpiffeID: NIOSSLContext] = [:]
    private var serverContexts: [SpiffeID: NIOSSLContext] = [:]

    public init(trustDomain: String, rootPEM: String) throws {
        self.trustDomain = trustDomain
        root = try NIOSSLCertificate(bytes: Array(rootPEM.utf8), format: .pem)
        clientVerifier = TrustDomainVerifier(root: try Certificate(pemEncoded: rootPEM), trustDomain: trustDomain)
    }

    public func install(_ certificates: [WorkloadCertificate]) {
        for certificate in certificates where identities[certificate.identity] == nil {
            identities[certificate.identity] = certificate
        }
    }

    public var heldIdentities: [SpiffeID] { identities.keys.sorted { $0.uri < $1.uri } }

    func clientContext(for identity: SpiffeID) throws -> NIOSSLContext {
        if let cached = clientContexts[identity] { return cached }
        var configuration = TLSConfiguration.makeClientConfiguration()
        try configure(&configuration, identity)
        let context = try NIOSSLContext(configuration: configuration)
        clientContexts[identity] = context
        return context
    }

    func serverContext(for identity: SpiffeID) throws -> NIOSSLContext {
        if let cached = serverContexts[identity] { return cached }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [], privateKey: .privateKey(try key(identity)))
        try configure(&configuration, identity)
        let context = try NIOSSLContext(configuration: configuration)
        serverContexts[identity] = context
        return context
    }

    /// The TLS server end of 15008 for `identity`. The client's certificate is judged during the
    /// handshake by `TrustDomainVerifier` (chain, then trust domain), so a refused client gets an
    /// alert from BoringSSL: certificate_unknown (46) for a failed check, certificate_required (116)
    /// for no certificate at all. Why it was refused goes to `peer`, which fails its promise with it.
    func serverHandler(for identity: SpiffeID, reportingTo peer: PeerIdentityHandler) throws -> NIOSSLServerHandler {
        let context = try serverContext(for: identity)
        let verifier = clientVerifier
        return NIOSSLServerHandler(context: context, customVerificationCallback: { presented, promise in
            let eventLoop = promise.futureResult.eventLoop
            let chain: [Certificate]
            do {
                chain = try presented.map { try Certificate(derEncoded: $0.toDERBytes()) }
            } catch {
                peer.refused(.refusedPeer("unreadable client certificate: \(error)"))
                return promise.succeed(.failed)
            }
            // Off the event loop (the verifier is async); the verdict comes back to it.
            eventLoop.makeFutureWithTask { await verifier.verify(chain) }.assumeIsolated().whenSuccess { verdict in
                switch verdict {
                case .success:
                    promise.succeed(.certificateVerified)
                case .failure(let refusal):
                    peer.refused(refusal)
                    promise.succeed(.failed)
                }
            }
        })
    }

    private func key(_ identity: SpiffeID) throws -> NIOSSLPrivateKey {
        guard let held = identities[identity] else { throw HBONEError.noCertificate(identity) }
        return try NIOSSLPrivateKey(bytes: Array(held.keyPEM.utf8), format: .pem)
    }

    private func configure(_ configuration: inout TLSConfiguration, _ identity: SpiffeID) throws {
        guard let held = identities[identity] else { throw HBONEError.noCertificate(identity) }
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.certificateVerification = .noHostnameVerification  // identity is checked as SPIFFE, below
        configuration.trustRoots = .certificates([root])
        configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(held.certificatePEM.utf8), format: .pem))]
        configuration.privateKey = .privateKey(try key(identity))
        configuration.applicationProtocols = ["h2"]
    }
}

enum HBONEError: Error, CustomStringConvertible {
    case noCertificate(SpiffeID)
    /// No mesh config yet, so no identities to serve.
    case notConfigured
    /// A connection for an address this ztunnel serves no workload at.
    case notServed
    case wrongPeerIdentity(expected: [SpiffeID], got: [SpiffeID])
    case noPeerIdentity
    /// A client certificate refused inside the TLS handshake, and why.
    case refusedPeer(String)
    case status(Int)

    var description: String {
        switch self {
        case .noCertificate(let identity): "no certificate held for \(identity)"
        case .wrongPeerIdentity(let expected, let got):
            "peer presented \(got.map(\.uri).joined(separator: ",")), expected \(expected.map(\.uri).joined(separator: " or "))"
        case .noPeerIdentity: "peer presented no SPIFFE identity of this trust domain"
        case .refusedPeer(let reason): "TLS handshake refused: \(reason)"
        case .status(let code): "HBONE CONNECT answered \(code)"
        case .notConfigured: "no mesh config pushed yet"
        case .notServed: "no workload served at this address"
        }
    }
}

/// Completes when the TLS handshake is done and the peer's SPIFFE id checks out: in the trust
/// domain, and (on the client side) one of the identities expected for the destination. A failed
/// handshake fails it with the reason the server's verifier gave (`refused`), when it gave one.
final class PeerIdentityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let trustDomain: String
    let expected: [SpiffeID]
    let verified: EventLoopPromise<SpiffeID>
    private(set) var identity: SpiffeID?
    /// Set by the handshake's certificate check (`MeshTLS.serverHandler`) when it refuses the peer.
    private var refusal: HBONEError?

    init(trustDomain: String, expected: [SpiffeID], verified: EventLoopPromise<SpiffeID>) {
        self.trustDomain = trustDomain
        self.expected = expected
        self.verified = verified
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self).peerCertificate
                .flatMap { try Certificate(derEncoded: $0.toDERBytes()) }
            let presented = certificate?.spiffeIDs.filter { $0.trustDomain == trustDomain } ?? []
            if presented.isEmpty {
                fail(context, HBONEError.noPeerIdentity)
            } else if !expected.isEmpty && !presented.contains(where: expected.contains) {
                fail(context, HBONEError.wrongPeerIdentity(expected: expected, got: presented))
            } else {
                identity = presented[0]
                verified.succeed(presented[0])
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func fail(_ context: ChannelHandlerContext, _ error: Error) {
        verified.fail(error)
        context.close(promise: nil)
    }

    func refused(_ reason: HBONEError) { refusal = reason }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        verified.fail(refusal ?? Self.refusalByBoringSSL(error) ?? error)
        context.fireErrorCaught(error)
    }

    /// A client that sent no certificate is refused by BoringSSL itself (SSL_VERIFY_FAIL_IF_NO_PEER_CERT),
    /// before any verification callback runs.
    private static func refusalByBoringSSL(_ error: Error) -> HBONEError? {
        guard case NIOSSLError.handshakeFailed(let failure) = error, "\(failure)".contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") else { return nil }
        return .refusedPeer("peer did not present a client certificate")
    }

    func channelInactive(context: ChannelHandlerContext) {
        verified.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
