import ArgumentParser
import Dataplane
import Foundation
import Glibc
import MeshLab
import Netns

struct RedirectorApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redirector",
        abstract: "A node's redirector for node-level iptables mode (started by `up` in the node's netns): the userspace Geneve endpoint.",
        discussion: "Serves its per-VNI counters as JSON on /run/meshlab/<lab>/redirector-<node>.sock.")

    @Option var lab: String
    @Option var node: String
    @Option(help: "ztunnel's netns on this node.") var ztunnelNetns: String
    @Option(help: "ztunnel's address (the Geneve peer of the node).") var ztunnelIp: String
    @Option(help: "The node's address toward ztunnel (the Geneve peer of ztunnel).") var nodeIp: String

    func run() throws {
        let here = NodeRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.nodeDevice }
        let there = NodeRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.ztunnelDevice }
        let endpoint = try GeneveEndpoint([
            (name: "node", netns: Naming.nodeNetns(lab: lab, node: node), taps: here, local: nodeIp, peer: ztunnelIp),
            (name: "ztunnel", netns: ztunnelNetns, taps: there, local: ztunnelIp, peer: nodeIp),
        ])
        try CountersServer.start(path: LabPaths.redirectorSocket(lab: lab, node: node)) { endpoint.snapshot() }
        NetnsProcess.signalReady()
        print("redirector \(lab) \(node) ready: Geneve VNI 1000 istioin ↔ pistioin, VNI 1001 istioout ↔ pistioout over UDP 6081")
        endpoint.run()
    }
}

/// Answers every connection on a unix socket with the current counters as one JSON line.
enum CountersServer {
    static func start<T: Encodable>(path: String, _ snapshot: @escaping @Sendable () -> T) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        _ = withUnsafeMutableBytes(of: &address.sun_path) { strncpy($0.baseAddress!.assumingMemoryBound(to: CChar.self), path, $0.count - 1) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw NetnsError.errno("serve counters on \(path)") }
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                let line = ((try? JSONEncoder().encode(snapshot())) ?? Data()) + Data("\n".utf8)
                _ = line.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                close(client)
            }
        }.start()
    }
}
