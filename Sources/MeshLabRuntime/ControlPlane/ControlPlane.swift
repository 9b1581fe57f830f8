import Dataplane
import Foundation
import Glibc
import MeshLab

/// MeshLab's stand-in for istiod: the lab CA, the certificates each ztunnel may hold, and config
/// pushes over each ztunnel's socket, acknowledged before `up` or `apply` returns.
package struct ControlPlane {
    package let directory: StateDirectory

    package init(directory: StateDirectory) { self.directory = directory }

    /// Creates the lab CA at `up` and keeps it in the state directory (certs/root.pem, root-key.pem).
    /// Whoever reads the key can mint any identity of the mesh: certs/ is 0700 and the key is born 0600.
    package func createAuthority(trustDomain: String) throws -> CertificateAuthority {
        let authority = try CertificateAuthority(trustDomain: trustDomain)
        let certs = directory.file("certs")
        try PrivateFiles.makeDirectory(certs.path)
        try authority.certificatePEM.write(to: certs.appendingPathComponent("root.pem"), atomically: true, encoding: .utf8)
        try PrivateFiles.write(authority.keyPEM, to: certs.appendingPathComponent("root-key.pem").path)
        return authority
    }

    package func authority() throws -> CertificateAuthority {
        let certs = directory.file("certs")
        return try CertificateAuthority(
            certificatePEM: String(contentsOf: certs.appendingPathComponent("root.pem"), encoding: .utf8),
            keyPEM: String(contentsOf: certs.appendingPathComponent("root-key.pem"), encoding: .utf8))
    }

    /// Pushes `config` to every node's ztunnel with certificates for the identities of its ambient pods.
    package func push(_ config: MeshConfig, to nodes: [String], authority: CertificateAuthority) throws {
        let root = try authority.certificatePEM
        for node in nodes {
            let identities = Set(config.workloads.filter { $0.node == node && $0.tunnel == .hbone }.map { $0.identity(trustDomain: config.trustDomain) })
            let certificates = try identities.sorted { $0.uri < $1.uri }.map { try authority.issue(for: $0) }
            let reply = try request(ConfigServer.Request(apply: ZTunnelUpdate(config: config, rootPEM: root, certificates: certificates)),
                                    node: node)
            guard reply == "ack \(config.version)" else {
                throw MeshLabError("ztunnel on \(node) did not accept config version \(config.version): \(reply)",
                               hint: "see \(directory.log(for: Naming.ztunnelProcess(node: node)).path)")
            }
        }
    }

    /// Pushes `config` to every waypoint and sidecar with the certificate of its pod's own identity.
    package func push(_ config: MeshConfig, toProxies proxies: [(role: Naming.ProxyRole, pod: String)], authority: CertificateAuthority) throws {
        let root = try authority.certificatePEM
        for (role, uid) in proxies {
            guard let workload = config.workloads.first(where: { $0.uid == uid }) else { continue }
            let certificate = try authority.issue(for: workload.identity(trustDomain: config.trustDomain))
            let path = Naming.proxyConfigSocket(lab: directory.lab, role: role, pod: uid)
            let reply = try request(ConfigServer.Request(apply: ZTunnelUpdate(config: config, rootPEM: root, certificates: [certificate])),
                                    path: path, who: "\(role.rawValue) \(uid)")
            guard reply == "ack \(config.version)" else {
                throw MeshLabError("\(role.rawValue) \(uid) did not accept config version \(config.version): \(reply)",
                               hint: "see \(directory.log(for: Naming.proxyProcess(role: role, pod: uid)).path)")
            }
        }
    }

    package func dump(node: String) throws -> String { try request(ConfigServer.Request(dump: true), node: node) }

    /// One request line to the ztunnel's unix socket, one reply read to EOF.
    private func request(_ request: ConfigServer.Request, node: String) throws -> String {
        try self.request(request, path: Naming.ztunnelConfigSocket(lab: directory.lab, node: node), who: "ztunnel of \(node)")
    }

    private func request(_ request: ConfigServer.Request, path: String, who: String) throws -> String {
        do {
            let reply = try ControlSocket.request(request, at: path)
            return String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch let error as ControlSocket.Unreachable {
            throw MeshLabError("cannot reach the \(who) at \(path): \(error.reason)", hint: "is the lab up? see its log in \(directory.logs.path)")
        }
    }
}
