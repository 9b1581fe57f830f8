import Dataplane
import Foundation
import XCTest

/// MeshLab's HBONE server checked by peers that share no code with it: python-h2 over Python's ssl
/// (status codes) and openssl s_client (the mutual-TLS requirement). They run from an uncaptured pod.
final class HBONEPeerEndToEndTests: XCTestCase {
    let peer = Harness.peer("hbone_connect.py")
    var directory: URL!

    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-peers-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Writes a certificate and key for `identity`, issued by `authority`; returns their paths.
    func credentials(_ authority: CertificateAuthority, _ identity: SpiffeID) throws -> (String, String) {
        let issued = try authority.issue(for: identity)
        let name = "\(identity.trustDomain)-\(identity.serviceAccount)"
        let cert = directory.appendingPathComponent("\(name).pem"), key = directory.appendingPathComponent("\(name)-key.pem")
        try issued.certificatePEM.write(to: cert, atomically: true, encoding: .utf8)
        try issued.keyPEM.write(to: key, atomically: true, encoding: .utf8)
        return (cert.path, key.path)
    }

    func connect(_ method: String, _ authority: String, _ credentials: (String, String)?, root: String) throws -> String {
        let (cert, key) = credentials ?? ("-", "-")
        let output = try Harness.meshlab("exec", "--lab", "l4-policy", "legacy/client", "--", "/usr/bin/python3", peer,
                                         "10.244.1.2:15008", method, authority, cert, key, root)
        return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testStatusCodesAndMutualTLSAgainstIndependentPeers() throws {
        try Harness.meshlab("up", "l4-policy")
        defer { _ = try? Harness.meshlab("down", "l4-policy", expect: nil) }
        let certs = "/run/meshlab/l4-policy/certs"
        let root = "\(certs)/root.pem"
        let lab = try CertificateAuthority(certificatePEM: String(contentsOfFile: root, encoding: .utf8),
                                           keyPEM: String(contentsOfFile: "\(certs)/root-key.pem", encoding: .utf8))
        let sleep = try credentials(lab, SpiffeID(trustDomain: "cluster.local", namespace: "ambient", serviceAccount: "sleep"))
        let intruder = try credentials(lab, SpiffeID(trustDomain: "cluster.local", namespace: "ambient", serviceAccount: "intruder"))

        XCTAssertEqual(try connect("CONNECT", "10.244.1.2:8000", sleep, root: root), "200")
        XCTAssertEqual(try connect("CONNECT", "10.244.1.99:8000", sleep, root: root), "400", "authority IP differs from the connection's")
        XCTAssertEqual(try connect("GET", "10.244.1.2:8000", sleep, root: root), "400", "not a CONNECT")
        XCTAssertEqual(try connect("CONNECT", "10.244.1.2:7777", sleep, root: root), "503", "upstream connect fails")
        XCTAssertEqual(try connect("CONNECT", "10.244.1.2:8000", intruder, root: root), "401", "denied by allow-sleep")

        // No client certificate: the server demands one.
        XCTAssertTrue(try connect("CONNECT", "10.244.1.2:8000", nil, root: root).contains("CERTIFICATE_REQUIRED"))
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: Harness.binary)
        openssl.arguments = ["exec", "--lab", "l4-policy", "legacy/client", "--", "/bin/sh", "-c",
                             "sleep 1 | openssl s_client -connect 10.244.1.2:15008 -tls1_3 -alpn h2 -CAfile \(root) 2>&1"]
        let output = Pipe()
        openssl.standardOutput = output
        try openssl.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        openssl.waitUntilExit()
        XCTAssertTrue(text.contains("Verification: OK"), "the server's certificate chains to the lab root\n\(text)")
        XCTAssertTrue(text.contains("alert certificate required"), text)

        // A certificate from another trust domain's CA is refused during the handshake.
        let foreign = try CertificateAuthority(trustDomain: "evil.local")
        let stranger = try credentials(foreign, SpiffeID(trustDomain: "evil.local", namespace: "ambient", serviceAccount: "sleep"))
        XCTAssertTrue(try connect("CONNECT", "10.244.1.2:8000", stranger, root: root).hasPrefix("tls-error"))
    }
}
