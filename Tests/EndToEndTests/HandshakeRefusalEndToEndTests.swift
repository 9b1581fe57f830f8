import Foundation
import XCTest

/// ztunnel's 15008 refuses a client it does not trust with a TLS alert during the handshake, as the
/// real ztunnel's TrustDomainVerifier does, and logs why. The clients are openssl s_client in an
/// uncaptured pod, with certificates openssl mints: none, one of another trust domain signed by the
/// lab CA, one of a foreign CA, and a good one.
final class HandshakeRefusalEndToEndTests: XCTestCase {
    let lab = "ambient-basic"
    let echoB = "10.244.1.3"  // ambient/echo-b, whose in-pod ztunnel (node-b) listens on 15008
    var folder: String!

    override func setUpWithError() throws {
        try Harness.requireRoot()
        folder = "/tmp/meshlab-handshake-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    @discardableResult
    func openssl(_ arguments: [String]) throws -> String {
        let output = try Harness.run("/usr/bin/openssl", arguments)
        XCTAssertEqual(output.status, 0, "openssl \(arguments.joined(separator: " ")): \(output.stderr)")
        return output.stdout
    }

    /// A P-256 leaf for `uri` (a critical URI SAN, client and server auth, as Istio issues them)
    /// signed by `ca`; returns its certificate and key paths.
    func mint(_ name: String, uri: String, ca: (cert: String, key: String)) throws -> (String, String) {
        let (cert, key, csr, ext) = ("\(folder!)/\(name).pem", "\(folder!)/\(name)-key.pem", "\(folder!)/\(name).csr", "\(folder!)/\(name).cnf")
        try """
            basicConstraints=critical,CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth,clientAuth
            subjectAltName=critical,URI:\(uri)

            """.write(toFile: ext, atomically: true, encoding: .utf8)
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
        try openssl(["req", "-new", "-key", key, "-subj", "/O=peer", "-out", csr])
        // -set_serial: -CAcreateserial would write a serial file next to the lab's CA.
        try openssl(["x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", "0x" + String(UInt64.random(in: 1...UInt64.max) >> 1, radix: 16),
                     "-days", "1", "-extfile", ext, "-out", cert])
        return (cert, key)
    }

    /// What openssl s_client printed, connecting from legacy/client to echo-b's 15008 with TLS 1.3
    /// and ALPN h2. It keeps reading for 2 s: in TLS 1.3 the client's handshake is over before the
    /// server has judged its certificate, so a refusal arrives as an alert on the next read.
    func sClient(_ credentials: (String, String)?) throws -> String {
        let present = credentials.map { " -cert \($0.0) -key \($0.1)" } ?? ""
        let command = "sleep 2 | timeout 10 openssl s_client -connect \(echoB):15008 -tls1_3 -alpn h2 -CAfile /run/meshlab/\(lab)/certs/root.pem\(present) 2>&1"
        return try Harness.meshlab("exec", "--lab", lab, "legacy/client", "--", "/bin/sh", "-c", command, expect: nil).stdout
    }

    /// The `failed` inbound events node-b's ztunnel logged, by their error text.
    func earlyDenials() -> [String] {
        let log = (try? String(contentsOfFile: "/run/meshlab/\(lab)/logs/ztunnel-node-b.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  event["event"] as? String == "failed", event["direction"] as? String == "inbound",
                  (event["src.addr"] as? String)?.hasPrefix("10.244.0.4:") ?? false,
                  event["dst.hbone_addr"] as? String == "\(echoB):15008" else { return nil }
            return event["error"] as? String
        }
    }

    func denial(containing text: String) -> String? {
        for _ in 0..<50 {
            if let found = earlyDenials().first(where: { $0.contains(text) }) { return found }
            usleep(100_000)
        }
        return nil
    }

    func testUntrustedClientsGetATLSAlertDuringTheHandshake() throws {
        try Harness.meshlab("up", lab)
        defer { _ = try? Harness.meshlab("down", lab, expect: nil) }
        let labCA = (cert: "/run/meshlab/\(lab)/certs/root.pem", key: "/run/meshlab/\(lab)/certs/root-key.pem")
        let foreignCA = (cert: "\(folder!)/foreign-ca.pem", key: "\(folder!)/foreign-ca-key.pem")
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", foreignCA.key, "-out", foreignCA.cert,
                     "-subj", "/O=elsewhere/CN=another root", "-days", "1",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
        let sleep = "spiffe://cluster.local/ns/ambient/sa/sleep"

        // No certificate: certificate_required (116), TLS 1.3's alert for it.
        let none = try sClient(nil)
        XCTAssertTrue(none.contains("SSL alert number 116"), none)

        // Another trust domain, though signed by the lab CA: refused by the trust-domain check, with
        // certificate_unknown (46), not by a close after a finished handshake.
        let stranger = try sClient(try mint("stranger", uri: "spiffe://other.domain/ns/x/sa/y", ca: labCA))
        XCTAssertTrue(stranger.contains("SSL alert number 46"), stranger)

        // Another CA: the chain check refuses it (bad_certificate, certificate_unknown or unknown_ca).
        let foreign = try sClient(try mint("foreign", uri: sleep, ca: foreignCA))
        XCTAssertNotNil(foreign.range(of: "SSL alert number (42|46|48)", options: .regularExpression), foreign)

        // A workload of the mesh is still let in: no alert, and the server's HTTP/2 SETTINGS arrive.
        let workload = try sClient(try mint("sleep", uri: sleep, ca: labCA))
        XCTAssertFalse(workload.contains("alert"), workload)
        XCTAssertTrue(workload.contains("ALPN protocol: h2") && workload.contains("Verification: OK"), workload)

        // Each refusal is logged with its reason, as ztunnel's log_early_deny does.
        XCTAssertNotNil(denial(containing: "peer did not present a client certificate"), earlyDenials().joined(separator: "\n"))
        XCTAssertNotNil(denial(containing: "peer did not present the expected trustdomain (cluster.local), got spiffe://other.domain/ns/x/sa/y"),
                        earlyDenials().joined(separator: "\n"))
        XCTAssertNotNil(denial(containing: "certificate not trusted"), earlyDenials().joined(separator: "\n"))
        XCTAssertEqual(earlyDenials().count, 3, "the accepted workload is no denial: \(earlyDenials())")
    }
}
