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
            redirection programs and keeps their maps; attaches programs and enrolls or releases pods on request \
            (`up` sends the attachments its plan lists). \
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
        let socket = Naming.redirectorSocket(lab: lab, node: node)
        switch redirect {
        case "iptables":
            let here = NodeIptablesRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.nodeDevice }
            let there = NodeIptablesRedirection.tunnels.reduce(into: [UInt32: String]()) { $0[$1.vni] = $1.ztunnelDevice }
            let endpoint = try GeneveEndpoint([
                (name: "node", netns: Naming.nodeNetns(lab: lab, node: node), taps: here, local: nodeIp, peer: ztunnelIp),
                (name: "ztunnel", netns: ztunnelNetns, taps: there, local: ztunnelIp, peer: nodeIp),
            ])
            try RedirectorControl.serve(path: socket) { _ in RedirectorReport(geneve: endpoint.snapshot()) }
            NetnsProcess.signalReady()
            print("redirector \(lab) \(node) ready: Geneve VNI 1000 istioin ↔ pistioin, VNI 1001 istioout ↔ pistioout over UDP 6081")
            endpoint.run()
        case "ebpf":
            let redirection = try BPFRedirector(objectFile: try EBPFPrograms.object())
            try redirection.setHostIP(nodeIp)
            let register: @Sendable () throws -> Void = { [self] in try registerZTunnel(redirection) }
            try register()
            try RedirectorControl.serve(path: socket) { request in
                do {
                    for attachment in request.attach ?? [] {
                        try DedicatedThread.run {
                            try NetworkNamespace.within(attachment.netns) {
                                try redirection.attach(attachment.program, device: attachment.device, ingress: attachment.ingress)
                            }
                        }
                    }
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
            print("redirector \(lab) \(node) ready: eBPF programs loaded, attached when `up` asks")
            while true { pause() }
        default:
            throw ValidationError("--redirect is iptables or ebpf")
        }
    }

    private func registerZTunnel(_ redirection: BPFRedirector) throws {
        let mac = try DedicatedThread.run { try NetworkNamespace.within(self.ztunnelNetns) { try RouteSocket().macAddress(of: Naming.podInterface) } }
        try redirection.registerZTunnel(ifindex: Int32(if_nametoindex(ztunnelVeth)), mac: mac)
    }

    /// Records a pod in `app_info` (its programs are attached by their own request).
    private func enroll(_ pod: Enrollment, _ redirection: BPFRedirector) throws {
        let mac = try DedicatedThread.run { try NetworkNamespace.within(pod.netns) { try RouteSocket().macAddress(of: Naming.podInterface) } }
        try redirection.enroll(ip: pod.ip, ifindex: Int32(if_nametoindex(pod.hostVeth)), mac: mac)
    }
}
