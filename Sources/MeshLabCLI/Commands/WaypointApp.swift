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
        abstract: "MeshLab's waypoint (started by `up` in a waypoint pod): HBONE in on 15008, L7 policy, HBONE out to destinations.")

    @Option(help: "The lab it belongs to.") var lab: String
    @Option(help: "Its pod (namespace/name).") var pod: String
    @Option(help: "The node it runs on.") var node: String

    func run() throws {
        let (group, pool) = ZTunnelApp.proxyRuntime(blockingThreads: 2)
        let parts = pod.split(separator: "/").map(String.init)
        guard parts.count == 2 else { throw ValidationError("--pod is namespace/name") }
        let netns = Naming.podNetns(lab: lab, namespace: parts[0], pod: parts[1])
        // Its log ids read `waypoint <ns>/<name>-<n>`, so checks can name the hop.
        let proxy = ZTunnel(node: "waypoint \(pod)", mode: .node(netns: netns), role: .waypoint(uid: pod), eventLoop: group.next(), pool: pool)
        let admin = try AdminServer.start(ztunnel: proxy, group: group)
        defer { admin.forEach { $0.close(promise: nil) } }
        let server = try ConfigServer.start(path: LabPaths.waypointConfigSocket(lab: lab, pod: pod), ztunnel: proxy, group: group)
        NetnsProcess.signalReady()
        print("waypoint \(lab) \(pod) ready on \(node): HBONE 15008, metrics 15020")
        try server.closeFuture.wait()
    }
}
