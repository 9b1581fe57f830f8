@testable import Dataplane
import Foundation
import Glibc
import Assertions
import MeshLabRuntime
import XCTest

/// Keys and control sockets are root's alone, from the moment they exist; an evidence bundle never
/// carries a private key.
final class PrivateFilesTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-private-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: folder)
    }

    func mode(_ path: String) throws -> mode_t {
        var status = stat()
        guard lstat(path, &status) == 0 else { throw NSError(domain: "stat \(path)", code: Int(errno)) }
        return status.st_mode & 0o7777
    }

    /// With umask 0 a file created with the default mode would come out 0666/0777: these modes
    /// come from the create call itself, not from a chmod after it.
    func withOpenUmask<T>(_ body: () throws -> T) rethrows -> T {
        let previous = umask(0)
        defer { umask(previous) }
        return try body()
    }

    func testKeysAreBorn0600InA0700Directory() throws {
        let certs = folder.appendingPathComponent("lab/certs").path
        try withOpenUmask {
            try PrivateFiles.makeDirectory(certs)
            try PrivateFiles.write("key material", to: certs + "/root-key.pem")
        }
        XCTAssertEqual(try mode(certs), 0o700)
        XCTAssertEqual(try mode(certs + "/root-key.pem"), 0o600)
        XCTAssertEqual(try String(contentsOfFile: certs + "/root-key.pem", encoding: .utf8), "key material")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: certs), ["root-key.pem"], "no temporary file left")

        // A world-readable key from an older run is replaced by a private one, and its folder narrowed.
        let old = folder.appendingPathComponent("old").path
        try FileManager.default.createDirectory(atPath: old, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        FileManager.default.createFile(atPath: old + "/root-key.pem", contents: Data("old".utf8), attributes: [.posixPermissions: 0o644])
        try PrivateFiles.makeDirectory(old)
        try PrivateFiles.write("new", to: old + "/root-key.pem")
        XCTAssertEqual(try mode(old), 0o700)
        XCTAssertEqual(try mode(old + "/root-key.pem"), 0o600)
        XCTAssertEqual(try String(contentsOfFile: old + "/root-key.pem", encoding: .utf8), "new")
    }

    func testAPrivateDirectoryMustNotBeALink() throws {
        let target = folder.appendingPathComponent("elsewhere").path
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("certs").path, withDestinationPath: target)
        XCTAssertThrowsError(try PrivateFiles.makeDirectory(folder.appendingPathComponent("certs").path))
    }

    /// The bind both control servers use: the socket file is 0600 even under umask 0, and the
    /// process's umask is back as it was afterwards.
    func testControlSocketsAreBoundForRootOnly() throws {
        let path = folder.appendingPathComponent("ztunnel-node-a.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        _ = withUnsafeMutableBytes(of: &address.sun_path) { strncpy($0.baseAddress!.assumingMemoryBound(to: CChar.self), path, $0.count - 1) }
        let previous = umask(0)
        defer { umask(previous) }
        let bound = PrivateFiles.bindingPrivately {
            withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(try mode(path), 0o600)
        XCTAssertEqual(umask(0), 0, "umask restored")
    }

    /// A redirector's control socket, as `meshlab redirector` serves it.
    func testTheRedirectorServesOnARootOnlySocket() throws {
        let path = folder.appendingPathComponent("redirector-node-a.sock").path
        try withOpenUmask { try RedirectorControl.serve(path: path) { _ in RedirectorReport() } }
        XCTAssertEqual(try mode(path), 0o600)
    }

    static let key = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2
        OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r
        1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G
        -----END PRIVATE KEY-----
        """
    static let certificate = "-----BEGIN CERTIFICATE-----\nMIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw\n-----END CERTIFICATE-----\n"

    func testEvidenceBundleCopiesLeaveNoPrivateKey() throws {
        let lab = folder.appendingPathComponent("lab")
        let logs = lab.appendingPathComponent("logs"), captures = lab.appendingPathComponent("captures")
        for directory in [logs, captures] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
        // A process that printed a key, a JSON log line carrying one escaped, a key file among the
        // logs, an EC key, and a capture of plaintext that holds one (its BEGIN cut off).
        let printed = "starting\n" + Self.key + "\nroot is\n" + Self.certificate + "done\n"
        try printed.write(to: logs.appendingPathComponent("ztunnel-node-a.log"), atomically: true, encoding: .utf8)
        let escaped = #"{"event":"update","keyPEM":"\#(Self.key.replacingOccurrences(of: "\n", with: "\\n"))\n","ok":true}"# + "\n"
        try escaped.write(to: logs.appendingPathComponent("waypoint.log"), atomically: true, encoding: .utf8)
        try Self.key.write(to: logs.appendingPathComponent("peer-key.pem"), atomically: true, encoding: .utf8)
        let ec = Self.key.replacingOccurrences(of: "PRIVATE KEY", with: "EC PRIVATE KEY")
        try ec.write(to: logs.appendingPathComponent("echo.log"), atomically: true, encoding: .utf8)
        let tail = Self.key.split(separator: "\n").dropFirst(2).joined(separator: "\n")
        let pcap = Data([0xd4, 0xc3, 0xb2, 0xa1, 0, 0, 0xff]) + Data(tail.utf8) + Data([0, 1, 2]) + Data(Self.key.utf8) + Data([3, 4])
        try pcap.write(to: captures.appendingPathComponent("check.pcap"))

        let copy = folder.appendingPathComponent("bundle")
        try EvidenceBundle.copyWithoutKeys(lab, to: copy)

        let files = try XCTUnwrap(FileManager.default.subpathsOfDirectory(atPath: copy.path)).sorted()
        XCTAssertEqual(files, ["captures", "captures/check.pcap", "logs", "logs/echo.log", "logs/waypoint.log", "logs/ztunnel-node-a.log"],
                       "the key file is left out")
        for file in files where file.contains(".") {
            let data = try Data(contentsOf: copy.appendingPathComponent(file))
            XCTAssertNil(data.range(of: Data("PRIVATE KEY".utf8)), "\(file) holds a private key")
            XCTAssertNil(data.range(of: Data("MIGHAgEAMBMGByqGSM49".utf8)), "\(file) holds key material")
            XCTAssertNil(data.range(of: Data("1RTwjmYSi9R".utf8)), "\(file) holds key material")
        }
        let log = try String(contentsOf: copy.appendingPathComponent("logs/ztunnel-node-a.log"), encoding: .utf8)
        XCTAssertTrue(log.hasPrefix("starting\n[private key removed]****"), log)
        XCTAssertTrue(log.hasSuffix("\nroot is\n" + Self.certificate + "done\n"), "what is not a key stays as it was: \(log)")
        XCTAssertEqual(log.count, printed.count, "overwritten in place")
        XCTAssertEqual(log.split(separator: "\n", omittingEmptySubsequences: false).count, printed.split(separator: "\n", omittingEmptySubsequences: false).count)
        let line = try String(contentsOf: copy.appendingPathComponent("logs/waypoint.log"), encoding: .utf8)
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), "a JSON log line stays JSON: \(line)")
        XCTAssertTrue(line.hasSuffix(#","ok":true}"# + "\n"), line)
        let captured = try Data(contentsOf: copy.appendingPathComponent("captures/check.pcap"))
        XCTAssertEqual(captured.count, pcap.count, "a capture keeps its length")
        XCTAssertEqual(captured.prefix(7), pcap.prefix(7), "and its header")
    }

    func testFilesWithoutKeysAreCopiedAsTheyAre() throws {
        let spec = folder.appendingPathComponent("spec.json")
        let text = #"{"name":"ambient-basic","note":"-----BEGIN CERTIFICATE----- is public; so is -----END of story"}"#
        try text.write(to: spec, atomically: true, encoding: .utf8)
        try EvidenceBundle.copyWithoutKeys(spec, to: folder.appendingPathComponent("copy.json"))
        XCTAssertEqual(try String(contentsOf: folder.appendingPathComponent("copy.json"), encoding: .utf8), text)
        XCTAssertNil(PrivateKeyRedaction.redact(Data(text.utf8)))
    }
}
