@testable import Dataplane
import Foundation
import Glibc
import NIOCore
import NIOPosix
import NIOSSL
import X509
import XCTest

/// 15008 judges a client's certificate inside the TLS handshake, as ztunnel's TrustDomainVerifier
/// does: chain to the mesh root, then a SPIFFE id of the mesh's trust domain. A refused client gets
/// a TLS alert. Real TLS (BoringSSL on both ends) over a socketpair: no network, no root.
final class TrustDomainRefusalTests: XCTestCase {
    static let trustDomain = "cluster.local"
    let lab = try! CertificateAuthority(trustDomain: trustDomain)
    let foreign = try! CertificateAuthority(trustDomain: "other.domain")
    let echo = SpiffeID(trustDomain: trustDomain, namespace: "ambient", serviceAccount: "echo")
    let sleep = SpiffeID(trustDomain: trustDomain, namespace: "ambient", serviceAccount: "sleep")
    let stranger = SpiffeID(trustDomain: "other.domain", namespace: "x", serviceAccount: "y")

    func verify(_ certificate: WorkloadCertificate) async throws -> Result<SpiffeID, HBONEError> {
        let verifier = TrustDomainVerifier(root: lab.certificate, trustDomain: Self.trustDomain)
        return await verifier.verify([try Certificate(pemEncoded: certificate.certificatePEM)])
    }

    func testTheVerifierWantsTheChainThenTheTrustDomain() async throws {
        let accepted = try await verify(lab.issue(for: sleep))
        XCTAssertEqual(try accepted.get(), sleep)

        guard case .failure(let otherDomain) = try await verify(lab.issue(for: stranger)) else { return XCTFail("another trust domain passed") }
        XCTAssertEqual(otherDomain.description, "TLS handshake refused: identity verification error: peer did not present the expected "
                       + "trustdomain (cluster.local), got spiffe://other.domain/ns/x/sa/y")

        guard case .failure(let otherCA) = try await verify(foreign.issue(for: sleep)) else { return XCTFail("a foreign CA's certificate passed") }
        XCTAssertTrue(otherCA.description.contains("certificate not trusted"), otherCA.description)

        let verifier = TrustDomainVerifier(root: lab.certificate, trustDomain: Self.trustDomain)
        guard case .failure(let none) = await verifier.verify([]) else { return XCTFail("no certificate passed") }
        XCTAssertTrue(none.description.contains("did not present a client certificate"), none.description)
    }

    struct Outcome {
        /// The first error the client saw (the alert it received), or nil.
        var clientError: String?
        /// The server side's verdict on its peer.
        var server: Result<SpiffeID, Error>
    }

    /// One TLS 1.3 handshake: `MeshTLS`'s 15008 server end for `echo`, and a BoringSSL client
    /// presenting `certificate` (or none) that does not check the server, then waits to be told.
    func handshake(presenting certificate: WorkloadCertificate?) throws -> Outcome {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        var ends: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends), 0)

        let verified = group.next().makePromise(of: SpiffeID.self)
        let rootPEM = try lab.certificatePEM, served = try lab.issue(for: echo), echo = echo
        let server = try ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let tls = try MeshTLS(trustDomain: Self.trustDomain, rootPEM: rootPEM)
                tls.install([served])
                let peer = PeerIdentityHandler(trustDomain: Self.trustDomain, expected: [], verified: verified)
                try channel.pipeline.syncOperations.addHandler(tls.serverHandler(for: echo, reportingTo: peer))
                try channel.pipeline.syncOperations.addHandler(peer)
            }
        }.withConnectedSocket(ends[0]).wait()
        defer { server.close(promise: nil) }

        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.certificateVerification = .none
        configuration.applicationProtocols = ["h2"]
        if let certificate {
            configuration.certificateChain = [.certificate(try NIOSSLCertificate(bytes: Array(certificate.certificatePEM.utf8), format: .pem))]
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(certificate.keyPEM.utf8), format: .pem))
        }
        let told = group.next().makePromise(of: String?.self)
        let client = try ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: NIOSSLContext(configuration: configuration), serverHostname: nil))
                try channel.pipeline.syncOperations.addHandler(FirstError(told))
            }
        }.withConnectedSocket(ends[1]).wait()
        defer { client.close(promise: nil) }

        let serverVerdict: Result<SpiffeID, Error>
        do { serverVerdict = .success(try verified.futureResult.wait()) } catch { serverVerdict = .failure(error) }
        if case .success = serverVerdict {
            // Accepted: nothing more comes; close, and the client sees a clean end.
            client.close(promise: nil)
        }
        return Outcome(clientError: try told.futureResult.wait(), server: serverVerdict)
    }

    func testAWorkloadOfTheMeshIsAccepted() throws {
        let outcome = try handshake(presenting: try lab.issue(for: sleep))
        XCTAssertEqual(try outcome.server.get(), sleep)
        XCTAssertNil(outcome.clientError)
    }

    func testAnotherTrustDomainSignedByTheLabCAGetsAnAlert() throws {
        let outcome = try handshake(presenting: try lab.issue(for: stranger))
        XCTAssertTrue(outcome.clientError?.contains("ALERT_CERTIFICATE_UNKNOWN") ?? false, "alert 46: \(outcome.clientError ?? "none")")
        XCTAssertThrowsError(try outcome.server.get()) { error in
            XCTAssertEqual("\(error)", "TLS handshake refused: identity verification error: peer did not present the expected "
                           + "trustdomain (cluster.local), got spiffe://other.domain/ns/x/sa/y", "refused in the handshake, not after it")
        }
    }

    func testACertificateOfAnotherCAGetsAnAlert() throws {
        let outcome = try handshake(presenting: try foreign.issue(for: sleep))
        XCTAssertTrue(outcome.clientError?.contains("ALERT_CERTIFICATE_UNKNOWN") ?? false, "alert 46: \(outcome.clientError ?? "none")")
        XCTAssertThrowsError(try outcome.server.get()) { error in
            XCTAssertTrue("\(error)".hasPrefix("TLS handshake refused: certificate not trusted"), "\(error)")
        }
    }

    func testNoCertificateGetsCertificateRequired() throws {
        let outcome = try handshake(presenting: nil)
        XCTAssertTrue(outcome.clientError?.contains("ALERT_CERTIFICATE_REQUIRED") ?? false, "alert 116: \(outcome.clientError ?? "none")")
        XCTAssertThrowsError(try outcome.server.get()) { error in
            XCTAssertEqual("\(error)", "TLS handshake refused: peer did not present a client certificate")
        }
    }
}

/// Tells the first error a channel sees, or nil when it closes without one.
private final class FirstError: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let told: EventLoopPromise<String?>

    init(_ told: EventLoopPromise<String?>) { self.told = told }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        told.succeed("\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        told.succeed(nil)
    }
}
