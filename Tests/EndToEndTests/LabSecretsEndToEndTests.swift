import Dataplane
import Foundation
import Glibc
import XCTest

/// A running lab's secrets are root's alone: the CA key and every issued key are 0600 in 0700
/// folders, the control sockets 0600, and another user really is kept out of them. An evidence
/// bundle holds no private key.
final class LabSecretsEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
    }

    struct Entry {
        var path: String
        var mode: mode_t
        var type: mode_t
        var owner: uid_t
    }

    func entry(_ path: String) -> Entry? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return Entry(path: path, mode: status.st_mode & 0o7777, type: status.st_mode & S_IFMT, owner: status.st_uid)
    }

    /// Everything under a lab's state directory.
    func entries(under root: String) -> [Entry] {
        ((FileManager.default.subpaths(atPath: root)) ?? []).sorted().compactMap { entry("\(root)/\($0)") }
    }

    /// `command` run as user nobody (65534, no groups): what any local user could do.
    func asNobody(_ command: [String]) throws -> Harness.Output {
        try Harness.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--"] + command)
    }

    /// The default lab, plus labs that run the other control-socket servers: node-level
    /// redirectors (iptables + Geneve), a waypoint, and sidecars.
    func testKeysAndControlSocketsAreRootsAlone() throws {
        let labs: [(name: String, sockets: [String])] = [
            ("ambient-basic", ["ztunnel-node-a.sock", "ztunnel-node-b.sock"]),
            ("node-iptables-geneve", ["redirector-node-a.sock", "ztunnel-node-a.sock"]),
            ("waypoint-l7", ["waypoint-", "ztunnel-node-b.sock"]),
            ("sidecar-l7", ["sidecar-"]),
        ]
        for (lab, expectedSockets) in labs {
            try Harness.meshlab("up", lab)
            defer { _ = try? Harness.meshlab("down", lab, expect: nil) }
            let root = "/run/meshlab/\(lab)"

            let certs = try XCTUnwrap(entry("\(root)/certs"), "\(lab): no certs folder")
            XCTAssertEqual(certs.mode, 0o700, "\(lab): certs/ is \(String(certs.mode, radix: 8))")
            XCTAssertEqual(certs.owner, 0)

            // Every file holding a private key, wherever it is: 0600, root's, in a folder only root enters.
            let all = entries(under: root)
            let keys = all.filter { $0.type == S_IFREG && ((try? String(contentsOfFile: $0.path, encoding: .utf8))?.contains("PRIVATE KEY") ?? false) }
            XCTAssertTrue(keys.contains { $0.path == "\(root)/certs/root-key.pem" }, "\(lab): the CA key is where it was: \(keys.map(\.path))")
            for key in keys {
                XCTAssertEqual(key.mode, 0o600, "\(key.path) is \(String(key.mode, radix: 8))")
                XCTAssertEqual(key.owner, 0, key.path)
                let folder = try XCTUnwrap(entry((key.path as NSString).deletingLastPathComponent))
                XCTAssertEqual(folder.mode, 0o700, "\(folder.path), holding \(key.path), is \(String(folder.mode, radix: 8))")
            }

            let sockets = all.filter { $0.type == S_IFSOCK }
            for expected in expectedSockets {
                XCTAssertTrue(sockets.contains { ($0.path as NSString).lastPathComponent.hasPrefix(expected) }, "\(lab): no \(expected)… in \(sockets.map(\.path))")
            }
            for socket in sockets {
                XCTAssertEqual(socket.mode, 0o600, "\(socket.path) is \(String(socket.mode, radix: 8))")
                XCTAssertEqual(socket.owner, 0, socket.path)
            }

            // Another user, for real: it can neither read the CA key nor push config.
            let read = try asNobody(["/bin/cat", "\(root)/certs/root-key.pem"])
            XCTAssertNotEqual(read.status, 0, "\(lab): nobody read the CA key")
            XCTAssertFalse(read.stdout.contains("PRIVATE KEY"), "\(lab): nobody read the CA key")
            for socket in sockets {
                let connect = try asNobody(["/usr/bin/python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", socket.path])
                XCTAssertTrue(connect.status != 0 && connect.stderr.contains("PermissionError"), "\(lab): nobody connected to \(socket.path): \(connect.stderr)")
            }
        }
    }

    /// `meshlab test` of a failing lab whose file carries a pasted key: every file of its bundle is
    /// read, and none holds a private key; the lab file is there with the key overwritten.
    func testAFailingLabsBundleHoldsNoPrivateKey() throws {
        let key = try CertificateAuthority(trustDomain: "cluster.local").keyPEM
        let lab = try Harness.twoNodeLabFile("bundlekeys", preamble: """
            // The CA key this bug was seen with, pasted into the report by mistake:
            /*
            \(key)
            */
            """, """
                Namespace("apps", mode: .ambient) {
                    Pod("sleep", node: "node-a", app: .client)
                    Pod("echo", node: "node-b", app: .echo(ports: [8000]))
                }
                Check("a port nobody serves answers", from: "apps/sleep", to: .pod("apps/echo", port: 7777), protocol: .tcp, expect: [.ok])
            """)
        defer { try? FileManager.default.removeItem(atPath: lab) }  // it holds a (throwaway) key
        let folder = "/tmp/meshlab-bundlekeys-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Harness.meshlab(["test", lab, "--bundle-dir", folder], expect: 1)
        XCTAssertEqual(try Harness.residue(of: "bundlekeys"), [])

        let name = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".tar.gz") }, "no bundle written")
        let unpacked = "\(folder)/unpacked"
        try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
        XCTAssertEqual(try Harness.run("/usr/bin/tar", ["-xzf", "\(folder)/\(name)", "-C", unpacked]).status, 0)
        let files = entries(under: unpacked).filter { $0.type == S_IFREG }
        XCTAssertTrue(files.contains { $0.path.hasSuffix("/logs/ztunnel-node-a.log") }, "the bundle has the logs: \(files.map(\.path))")
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: file.path))
            XCTAssertNil(data.range(of: Data("PRIVATE KEY".utf8)), "\(file.path) holds a private key")
            XCTAssertFalse(file.path.hasSuffix("key.pem"), "\(file.path) is a key file")
        }
        let labFile = try String(contentsOfFile: "\(unpacked)/lab.swift", encoding: .utf8)
        XCTAssertTrue(labFile.contains("[private key removed]") && labFile.contains("Lab(\"bundlekeys\")"), labFile)
    }
}
