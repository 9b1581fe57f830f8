import ArgumentParser
import Foundation
import Glibc
import MeshLab
import MeshLabRuntime
import Netns

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command inside a pod's or a node's network namespace.",
        discussion: "Example: meshlab exec ambient/sleep-a -- meshlab client http://10.244.1.3:8000")

    @Option(help: "The lab (default: the only lab that is up).")
    var lab: String?

    @Argument(help: "namespace/pod, or a node name.")
    var target: String

    @Argument(parsing: .postTerminator, help: "The command and its arguments.")
    var command: [String] = []

    func run() throws {
        try reportingErrors {
            let labName = try lab ?? RunningLabs.onlyOne()
            let directory = StateDirectory(lab: labName)
            guard directory.exists else { throw MeshLabError("no lab named '\(labName)' is up", hint: "`meshlab status` lists them") }
            let topology = try directory.topology()
            guard let netns = topology.pod(target)?.netns ?? topology.node(named: target)?.netns else {
                throw MeshLabError("lab '\(labName)' has no pod or node '\(target)'",
                               hint: "pods: \(topology.pods.map(\.id).joined(separator: ", ")); nodes: \(topology.nodes.map(\.name).joined(separator: ", "))")
            }
            let argv = command.isEmpty ? [ProcessInfo.processInfo.environment["SHELL"] ?? "/bin/sh"] : command
            // exec replaces this process, so entering the netns on this (main) thread is what we want.
            try NetworkNamespace.enter(netns)
            setenv("MESHLAB_LAB", labName, 1)
            setenv("MESHLAB_TARGET", target, 1)
            let cArguments = argv.map { strdup($0) } + [nil]
            execvp(argv[0], cArguments)
            throw MeshLabError("cannot run \(argv[0]): \(String(cString: strerror(errno)))", hint: "check the command exists in PATH")
        }
    }
}
