import ArgumentParser
import Dataplane
import NIOPosix
import Netns

struct EchoApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo",
        abstract: "The bundled echo server (started by `up` inside echo pods).")

    @Option(help: "The lab it belongs to (shown by `ps`).")
    var lab: String

    @Option(help: "namespace/pod this server runs as.")
    var pod: String

    @Option(help: "The node it runs on.")
    var node: String

    @Option(name: .customLong("port"), help: "A port to serve (repeat for more).")
    var ports: [Int]

    func run() throws {
        raiseOpenFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channels = try EchoServer(pod: pod, node: node, ports: ports).start(group: group)
        NetnsProcess.signalReady()
        print("echo \(lab) \(pod) on \(node) serving \(ports.map(String.init).joined(separator: ","))")
        try channels[0].closeFuture.wait()
    }
}
