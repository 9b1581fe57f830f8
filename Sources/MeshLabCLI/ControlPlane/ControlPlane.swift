import Dataplane
import Foundation
import Glibc
import MeshLab

/// MeshLab's stand-in for istiod: the lab CA, the certificates each ztunnel may hold, and config
/// pushes over each ztunnel's socket, acknowledged before `up` or `apply` returns.
struct ControlPlane {
    let directory: StateDirectory

    /// Creates the lab CA at `up` and keeps it in the state directory (certs/root.pem, root-key.pem).
    /// Whoever reads the key can mint any identity of the mesh: certs/ is 0700 and the key is born 0600.
    func createAuthority(trustDomain: String) throws -> CertificateAuthority {
        let authority = try CertificateAuthority(trustDomain: trustDomain)
        let certs = directory.file("certs")
        try PrivateFiles.makeDirectory(certs.path)
        try authority.certificatePEM.write(to: certs.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        try PrivateFiles.write(authority.keyPEM, to: certs.appendingPathComponent("root-key.pem").path)
        return authority
    }

    func authority() throws -> CertificateAuthority {
        let certs = directory.file("certs")
        return try CertificateAuthority(
            certificatePEM: String(contentsOf: certs.appendingPathComponent("root.pem"), encoding: .utf8),
            keyPEM: String(contentsOf: certs.appendingPathComponent("root-key.pem"), encoding: .utf8))
    }

    /// Pushes `config` to every node's ztunnel with certificates for the identities of its ambient pods.
    func push(_ config: MeshConfig, to nodes: [String], authority: CertificateAuthority) throws {
        let root = try authority.certificatePEM
        for node in nodes {
            let identities = Set(config.workloads.filter { $0.node == node && $0.tunnel == .hbone }.map { $0.identity(trustDomain: config.trustDomain) })
            let certificates = try identities.sorted { $0.uri < $1.uri }.map { try authority.issue(for: $0) }
            let reply = try request(ConfigServer.Request(apply: ZTunnelUpdate(config: config, rootPEM: root, certificates: certificates)),
                                    node: node)
            guard reply == "ack \(config.version)" else {
                throw CLIError("ztunnel on \(node) did not accept config version \(config.version): \(reply)",
                               hint: "see \(directory.log(for: "ztunnel-\(node)").path)")
            }
        }
    }

    /// Pushes `config` to every waypoint and sidecar with the certificate of its pod's own identity.
    func push(_ config: MeshConfig, toProxies proxies: [(role: String, pod: String)], authority: CertificateAuthority) throws {
        let root = try authority.certificatePEM
        for (role, uid) in proxies {
            guard let workload = config.workloads.first(where: { $0.uid == uid }) else { continue }
            let certificate = try authority.issue(for: workload.identity(trustDomain: config.trustDomain))
            let path = LabPaths.proxyConfigSocket(lab: directory.lab, role: role, pod: uid)
            let reply = try request(ConfigServer.Request(apply: ZTunnelUpdate(config: config, rootPEM: root, certificates: [certificate])),
                                    path: path, who: "\(role) \(uid)")
            guard reply == "ack \(config.version)" else {
                throw CLIError("\(role) \(uid) did not accept config version \(config.version): \(reply)",
                               hint: "see \(directory.log(for: "\(role)-\(uid.replacingOccurrences(of: "/", with: "-"))").path)")
            }
        }
    }

    func dump(node: String) throws -> String { try request(ConfigServer.Request(dump: true), node: node) }

    /// One request line to the ztunnel's unix socket, one reply read to EOF.
    private func request(_ request: ConfigServer.Request, node: String) throws -> String {
        try self.request(request, path: LabPaths.ztunnelConfigSocket(lab: directory.lab, node: node), who: "ztunnel of \(node)")
    }

    private func request(_ request: ConfigServer.Request, path: String, who: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CLIError("cannot create a unix socket") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in path.utf8CString.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw CLIError("cannot reach the \(who) at \(path): \(String(cString: strerror(errno)))",
                           hint: "is the lab up? see its log in \(directory.logs.path)")
        }
        var line = try JSONEncoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
