@testable import Dataplane
import Foundation
import X509
import XCTest

final class IdentityTests: XCTestCase {
    func testSpiffeIDParsing() {
        let id = SpiffeID(uri: "spiffe://cluster.local/ns/apps/sa/sleep")
        XCTAssertEqual(id, SpiffeID(trustDomain: "cluster.local", namespace: "apps", serviceAccount: "sleep"))
        XCTAssertEqual(id?.principal, "cluster.local/ns/apps/sa/sleep")
        XCTAssertNil(SpiffeID(uri: "spiffe://cluster.local/ns/apps"))
        XCTAssertNil(SpiffeID(uri: "https://cluster.local/ns/apps/sa/sleep"))
    }

    func testIssuedCertificateCarriesTheSpiffeSANUnderTheRoot() throws {
        let authority = try CertificateAuthority(trustDomain: "lab.test")
        let identity = SpiffeID(trustDomain: "lab.test", namespace: "apps", serviceAccount: "sleep")
        let issued = try authority.issue(for: identity)
        let certificate = try Certificate(pemEncoded: issued.certificatePEM)
        XCTAssertEqual(certificate.spiffeIDs, [identity])
        XCTAssertEqual(certificate.subject, DistinguishedName())
        XCTAssertEqual(certificate.issuer, authority.certificate.subject)
        XCTAssertTrue(try XCTUnwrap(certificate.extensions[oid: .X509ExtensionID.subjectAlternativeName]).critical)
        XCTAssertTrue(authority.certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        // The PEM round trip gives the same root back.
        let reloaded = try CertificateAuthority(certificatePEM: authority.certificatePEM, keyPEM: authority.keyPEM)
        XCTAssertEqual(reloaded.certificate, authority.certificate)
    }

    /// An independent verifier: OpenSSL accepts the leaf against the lab root.
    func testOpenSSLVerifiesTheChain() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else { throw XCTSkip("openssl not installed") }
        let authority = try CertificateAuthority(trustDomain: "cluster.local")
        let leaf = try authority.issue(for: SpiffeID(trustDomain: "cluster.local", namespace: "a", serviceAccount: "b"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-ca-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try authority.certificatePEM.write(to: directory.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        try leaf.certificatePEM.write(to: directory.appendingPathComponent("leaf.pem"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["verify", "-CAfile", directory.appendingPathComponent("root.pem").path, directory.appendingPathComponent("leaf.pem").path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, text)
        XCTAssertTrue(text.contains(": OK"), text)
    }

    func testConfigRoundTripsThroughJSON() throws {
        var match = Authorization.Match()
        match.principals = ["cluster.local/ns/a/sa/b"]
        let config = MeshConfig(
            version: 3, trustDomain: "cluster.local",
            workloads: [Workload(uid: "a/p", name: "p", namespace: "a", serviceAccount: "b", node: "n", address: "10.0.0.2",
                                 tunnel: .hbone, netns: "lab-a-p", labels: ["app": "p"])],
            services: [MeshService(name: "s", namespace: "a", hostname: "s.a.svc.cluster.local", vips: ["10.96.0.1"],
                                   ports: [.init(port: 80, targetPort: 8000)], endpoints: ["a/p"])],
            policies: [Authorization(name: "x", namespace: "a", scope: .namespace, action: .allow, rules: [.init([.init([match])])])])
        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try JSONDecoder().decode(MeshConfig.self, from: data), config)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains(#""tunnel":"HBONE""#), text)
        XCTAssertTrue(text.contains(#""action":"ALLOW""#), text)
        let index = MeshIndex(config)
        XCTAssertEqual(index.service(vip: "10.96.0.1")?.name, "s")
        XCTAssertEqual(index.workload(at: "10.0.0.2")?.uid, "a/p")
        XCTAssertEqual(index.workload(uid: "a/p")?.address, "10.0.0.2")
        XCTAssertNil(index.workload(at: "10.0.0.9"))
    }
}
