import Crypto
import Foundation
import SwiftASN1
import X509

/// The lab's mesh CA: an ECDSA P-256 root that issues SPIFFE workload certificates, as istiod does.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    private let key: P256.Signing.PrivateKey

    /// A new root, valid for a year.
    public init(trustDomain: String) throws {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("MeshLab")
            CommonName("MeshLab root CA for \(trustDomain)")
        }
        let now = Date()
        certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: .init(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        self.key = key
    }

    /// Loads a root and its key from PEM (what `up` wrote to the lab's state directory).
    public init(certificatePEM: String, keyPEM: String) throws {
        certificate = try Certificate(pemEncoded: certificatePEM)
        key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
    }

    public var certificatePEM: String { get throws { try certificate.serializeAsPEM().pemString } }
    public var keyPEM: String { key.pemRepresentation }

    /// A workload certificate: empty subject, the SPIFFE URI as its only (critical) SAN, usable
    /// for both ends of mutual TLS, valid for a day.
    public func issue(for identity: SpiffeID) throws -> WorkloadCertificate {
        let leafKey = P256.Signing.PrivateKey()
        let now = Date()
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(86400),
            issuer: certificate.subject, subject: DistinguishedName(), signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                Critical(SubjectAlternativeNames([.uniformResourceIdentifier(identity.uri)]))
            },
            issuerPrivateKey: .init(key))
        return WorkloadCertificate(identity: identity, certificatePEM: try leaf.serializeAsPEM().pemString,
                                   keyPEM: leafKey.pemRepresentation)
    }
}

/// A workload's certificate and key, as PEM.
public struct WorkloadCertificate: Codable, Sendable {
    public var identity: SpiffeID
    public var certificatePEM: String
    public var keyPEM: String
}

extension Certificate {
    /// The SPIFFE ids among the certificate's URI SANs.
    public var spiffeIDs: [SpiffeID] {
        guard let names = try? extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .uniformResourceIdentifier(let uri) = name { return SpiffeID(uri: uri) }
            return nil
        }
    }
}
