import Foundation
import SwiftASN1
import X509

/// The check of an HBONE client's certificate, made inside the TLS handshake as the real ztunnel
/// does: its `TrustDomainVerifier::verify_client_cert` (istio/ztunnel src/tls/workload.rs) runs
/// the WebPKI client verifier (chain to the mesh roots, usable for client authentication), then
/// `verify_trust_domain`: the certificate must carry a SPIFFE URI SAN of ztunnel's trust domain.
/// A failure there fails the handshake, so the client is refused with an alert, not by a close
/// after it. The chain check is ours too: a custom verification callback replaces BoringSSL's.
struct TrustDomainVerifier: Sendable {
    let root: Certificate
    let trustDomain: String

    /// The peer's SPIFFE id of this trust domain, or why it is refused (in ztunnel's words where it has them).
    func verify(_ presented: [Certificate]) async -> Result<SpiffeID, HBONEError> {
        guard let leaf = presented.first else { return .failure(.refusedPeer("peer did not present a client certificate")) }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy()
            ClientAuthenticationPolicy()
        }
        let result = await verifier.validate(leaf: leaf, intermediates: CertificateStore(presented.dropFirst()))
        guard case .validCertificate = result else {
            var reasons: [String] = []
            if case .couldNotValidate(let failures) = result { reasons = failures.map { "\($0.policyFailureReason)" } }
            return .failure(.refusedPeer("certificate not trusted: "
                + (reasons.isEmpty ? "no chain to the mesh root" : Set(reasons).sorted().joined(separator: "; "))))
        }
        let presentedIDs = leaf.spiffeIDs
        guard let identity = presentedIDs.first(where: { $0.trustDomain == trustDomain }) else {
            // ztunnel's TlsError::SanTrustDomainError (src/tls/lib.rs).
            return .failure(.refusedPeer("identity verification error: peer did not present the expected trustdomain (\(trustDomain)), got "
                + (presentedIDs.isEmpty ? "no SPIFFE identity" : presentedIDs.map(\.uri).joined(separator: ","))))
        }
        return .success(identity)
    }
}

/// What the WebPKI client verifier asks of the leaf beyond RFC 5280 (webpki's KeyUsage::client_auth:
/// the clientAuth extended key usage is required if the certificate restricts its usages at all).
/// It also takes on the SAN, which Istio's workload certificates mark critical, as the trust-domain
/// check that follows reads it.
struct ClientAuthenticationPolicy: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.extendedKeyUsage, .X509ExtensionID.subjectAlternativeName,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        do {
            guard let usages = try chain.leaf.extensions.extendedKeyUsage else { return .meetsPolicy }
            return usages.contains(.clientAuth) ? .meetsPolicy : .failsToMeetPolicy(reason: "certificate is not for TLS client authentication")
        } catch {
            return .failsToMeetPolicy(reason: "unreadable extended key usage: \(error)")
        }
    }
}
