import ArgumentParser
import Dataplane
import Glibc
import MeshLab
import NIOCore
import NIOPosix
import Netns

struct WaypointApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waypoint",
        abstract: "MeshLab's waypoint (started by `up` in a waypoint pod): HBONE in on 15008, L7 policy and routing, HBONE out to destinations.")

    @OptionGroup var pod: PodProxyOptions

    func run() throws {
        try pod.serve(role: .waypoint, ports: "HBONE 15008") { Waypoint(uid: $0, netns: $1, eventLoop: $2, pool: $3) }
    }
}

struct SidecarApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecar",
        abstract: "MeshLab's sidecar (started by `up` in each pod of a sidecar namespace): outbound 15001, inbound 15006 and HBONE 15008, inside the pod.")

    @OptionGroup var pod: PodProxyOptions

    func run() throws {
        try pod.serve(role: .sidecar, ports: "15001, 15006, HBONE 15008") { Sidecar(uid: $0, eventLoop: $2, pool: $3) }
    }
}

/// What a proxy that lives in one pod is told, and how it runs: taking config pushes on its own
/// socket and serving metrics on 15020.
struct PodProxyOptions: ParsableArguments {
    @Option(help: "The lab it belongs to.") var lab: String
    @Option(help: "Its pod (namespace/name).") var pod: String
    @Option(help: "The node it runs on.") var node: String

    func serve(role: Naming.ProxyRole, ports: String,
               _ make: (_ uid: String, _ netns: String, EventLoop, NIOThreadPool) -> any MeshProxy) throws {
        let (group, pool) = ZTunnelApp.proxyRuntime(blockingThreads: 2)
        let parts = pod.split(separator: "/").map(String.init)
        guard parts.count == 2 else { throw ValidationError("--pod is namespace/name") }
        let proxy = make(pod, Naming.podNetns(lab: lab, namespace: parts[0], pod: parts[1]), group.next(), pool)
        let admin = try AdminServer.start(proxy: proxy, group: group)
        defer { admin.forEach { $0.close(promise: nil) } }
        let server = try ConfigServer.start(path: Naming.proxyConfigSocket(lab: lab, role: role, pod: pod), proxy: proxy, group: group)
        NetnsProcess.signalReady()
        print("\(role.rawValue) \(lab) \(pod) ready on \(node): \(ports), metrics 15020")
        try server.closeFuture.wait()
    }
}
