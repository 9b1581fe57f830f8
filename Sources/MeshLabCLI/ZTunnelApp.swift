import ArgumentParser
import Dataplane
import Foundation
import Glibc
import MeshLab
import MeshLabRuntime
import Netns
import NIOCore
import NIOPosix

struct ZTunnelApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ztunnel",
        abstract: "MeshLab's ztunnel for one node (started by `up` in the node's ztunnel netns).")

    @Option(help: "The lab it belongs to.")
    var lab: String

    @Option(help: "The node it serves.")
    var node: String

    @Option(help: "How pods' traffic reaches it: inpod (listeners inside each pod), iptables or ebpf (transparent listeners in its own netns).")
    var redirect = "inpod"

    @Option(help: "1 at `up`, +1 per restart: part of its connection ids.")
    var generation = 1

    @Option(help: "On SIGTERM, seconds to let open connections finish after it stops accepting.")
    var drainSeconds = 5.0

    func run() throws {
        let (group, pool) = Self.proxyRuntime(blockingThreads: 8)
        let inPod = RedirectionMode(rawValue: redirect)?.isInPod ?? true
        let mode: CaptureMode = inPod ? .inPod : .node(netns: Naming.ztunnelNetns(lab: lab, node: node))
        let ztunnel = ZTunnel(node: node, mode: mode, generation: generation, eventLoop: group.next(), pool: pool)
        // Replaced (SIGTERM): stop accepting, let open connections finish, then exit.
        signal(SIGTERM, SIG_IGN)
        let termination = DispatchSource.makeSignalSource(signal: SIGTERM)
        termination.setEventHandler {
            ztunnel.drain(within: .milliseconds(Int64(drainSeconds * 1000))).whenComplete { _ in Glibc.exit(0) }
        }
        termination.resume()
        let admin = try AdminServer.start(proxy: ztunnel, group: group)
        _ = try ConfigServer.start(path: Naming.ztunnelConfigSocket(lab: lab, node: node), proxy: ztunnel, group: group)
        NetnsProcess.signalReady()
        print("ztunnel \(lab) \(node) ready: admin 15000, metrics 15020, readiness 15021")
        try admin[0].closeFuture.wait()
    }
}

extension ZTunnelApp {
    /// What a proxy process (ztunnel, waypoint) runs on: one event loop for all its state, and a few
    /// threads for blocking connects made inside other netns. Also: descriptors for two sockets per
    /// connection, and one malloc arena: nearly all allocation happens on the event loop, and an arena
    /// per blocking thread only kept freed memory (private memory after the ztunnel benchmark: 16 MB
    /// with two arenas, 8 MB with one); what a burst freed goes back to the kernel every 5 s.
    static func proxyRuntime(blockingThreads: Int) -> (MultiThreadedEventLoopGroup, NIOThreadPool) {
        raiseOpenFileLimit()
        ProcessMemory.limitArenas(1)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: blockingThreads)
        pool.start()
        group.next().scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in ProcessMemory.releaseFree() }
        return (group, pool)
    }
}

/// Which node's ztunnel a command is about.
struct ZTunnelTarget: ParsableArguments {
    @Option(help: "The lab (default: the only lab that is up).")
    var lab: String?

    @Argument(help: "The node.")
    var node: String

    func labName() throws -> String { try lab ?? RunningLabs.onlyOne() }
}

struct ZTunnelConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ztunnel-config",
        abstract: "Show what a node's ztunnel holds: workloads, services, policies, identities, captured pods.")

    @OptionGroup var target: ZTunnelTarget

    func run() throws {
        try reportingErrors {
            print(try ControlPlane(directory: StateDirectory(lab: target.labName())).dump(node: target.node))
        }
    }
}

struct ZTunnelRestart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ztunnel-restart",
        abstract: "Restart a node's ztunnel (or start it again after a crash) and push it the current config.")

    @OptionGroup var target: ZTunnelTarget

    func run() throws {
        try reportingErrors {
            try Orchestrator().restartZTunnel(lab: target.labName(), node: target.node)
            say("ztunnel on \(target.node) restarted and configured")
        }
    }
}
