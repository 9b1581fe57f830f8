import ArgumentParser
import Dataplane
import Foundation
import Glibc
import MeshLab
import Netns

struct RedirectorApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redirector",
        abstract: "A node's redirector in node-level modes (started by `up` in the node's netns).",
        discussion: """
            iptables: the userspace Geneve endpoint between the node and ztunnel's netns. ebpf: loads the \
            redirection programs, attaches them, and keeps their maps (pods enrolled and released on request). \
            Answers on /run/meshlab/<lab>/redirector-<node>.sock.
            """)

    @Option var lab: String
    @Option var node: String
    @Option(help: "iptables or ebpf.") var redirect: String
    @Option(help: "ztunnel's netns on this node.") var ztunnelNetns: String
    @Option(help: "ztunnel's address (the Geneve peer of the node).") var ztunnelIp: String
    @Option(help: "The node's end of ztunnel's veth.") var ztunnelVeth: String
    @Option(help: "The node's address toward its pods and ztunnel.") var nodeIp: String

    func run() throws {
        let socket = LabPaths.redirectorSocket(lab: lab, node: node)
        switch redirect {
        case "iptables":
            let here = NodeRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.nodeDevice }
            let there = NodeRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.ztunnelDevice }
            let endpoint = try GeneveEndpoint([
                (name: "node", netns: Naming.nodeNetns(lab: lab, node: node), taps: here, local: nodeIp, peer: ztunnelIp),
                (name: "ztunnel", netns: ztunnelNetns, taps: there, local: ztunnelIp, peer: nodeIp),
            ])
            try RedirectorControl.serve(path: socket) { _ in RedirectorReport(geneve: endpoint.snapshot()) }
            NetnsProcess.signalReady()
            print("redirector \(lab) \(node) ready: Geneve VNI 1000 istioin ↔ pistioin, VNI 1001 istioout ↔ pistioout over UDP 6081")
            endpoint.run()
        case "ebpf":
            let redirection = try EBPFRedirection(objectFile: try EBPFPrograms.object())
            try redirection.attach("ztunnel_host_ingress", device: ztunnelVeth, ingress: true)
            try DedicatedThread.run {
                try NetworkNamespace.within(self.ztunnelNetns) { try redirection.attach("ztunnel_tproxy", device: Naming.podInterface, ingress: true) }
            }
            try redirection.setHostIP(nodeIp)
            let register: @Sendable () throws -> Void = { [self] in try registerZTunnel(redirection) }
            try register()
            try RedirectorControl.serve(path: socket) { request in
                do {
                    for pod in request.enroll ?? [] { try enroll(pod, redirection) }
                    for ip in request.release ?? [] { try redirection.release(ip: ip) }
                    switch request.ztunnelRegistered {
                    case true?: try register()
                    case false?: try redirection.unregisterZTunnel()
                    case nil: break
                    }
                    return RedirectorReport(ebpf: redirection.counters())
                } catch {
                    return RedirectorReport(error: "\(error)")
                }
            }
            NetnsProcess.signalReady()
            print("redirector \(lab) \(node) ready: eBPF programs attached to \(ztunnelVeth) and ztunnel's eth0")
            while true { pause() }
        default:
            throw ValidationError("--redirect is iptables or ebpf")
        }
    }

    private func registerZTunnel(_ redirection: EBPFRedirection) throws {
        let mac = try DedicatedThread.run { try NetworkNamespace.within(self.ztunnelNetns) { try RouteSocket().macAddress(of: Naming.podInterface) } }
        try redirection.registerZTunnel(ifindex: Int32(if_nametoindex(ztunnelVeth)), mac: mac)
    }

    /// Attaches the pod programs to its host-side veth and records it in `app_info`.
    private func enroll(_ pod: Enrollment, _ redirection: EBPFRedirection) throws {
        let mac = try DedicatedThread.run { try NetworkNamespace.within(pod.netns) { try RouteSocket().macAddress(of: Naming.podInterface) } }
        try redirection.attach("app_outbound", device: pod.hostVeth, ingress: true)
        try redirection.attach("app_inbound", device: pod.hostVeth, ingress: false)
        try redirection.enroll(ip: pod.ip, ifindex: Int32(if_nametoindex(pod.hostVeth)), mac: mac)
    }
}
