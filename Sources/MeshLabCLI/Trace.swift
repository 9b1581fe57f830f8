import ArgumentParser
import Assertions
import Dataplane
import Foundation
import MeshLab
import MeshLabRuntime
import Netns

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make one call and print the path it took, hop by hop, with the evidence for each hop.",
        discussion: "Example: meshlab trace ambient/sleep-a ambient/echo-b:8000")

    @Option(help: "The lab (default: the only lab that is up).")
    var lab: String?

    @Argument(help: "The calling pod (namespace/pod).")
    var from: String

    @Argument(help: "namespace/pod:port, namespace/service:port (a service), or IP:port.")
    var to: String

    @Option(help: "http, h2 or tcp.")
    var `protocol`: String = "http"

    func run() throws {
        try reportingErrors {
            let name = try lab ?? RunningLabs.onlyOne()
            let directory = StateDirectory(lab: name)
            let topology = try directory.topology()
            guard let caller = topology.pod(from) else { throw MeshLabError("no pod '\(from)' in lab '\(name)'", hint: "write it as namespace/pod") }
            guard let colon = to.lastIndex(of: ":"), let port = Int(to[to.index(after: colon)...]) else {
                throw MeshLabError("'\(to)' has no port", hint: "write it as namespace/pod:8000 or 10.244.1.3:8000")
            }
            let name_ = String(to[..<colon])
            let target: CallTarget = topology.pod(name_) != nil ? .pod(name_, port: port)
                : topology.services.contains { "\($0.namespace)/\($0.name)" == name_ } ? .service(name_, port: port) : .address(name_, port: port)
            guard let proto = CallProtocol(rawValue: `protocol`) else { throw MeshLabError("unknown protocol \(`protocol`)", hint: "use http, h2 or tcp") }

            let check = Check("trace", from: from, to: target, protocol: proto, expect: [.ok])
            let (result, evidence) = try CheckRunner(directory: directory, topology: topology, alwaysReadCounters: true).runWithEvidence(check)
            let hops = evidence.path(from: caller.id)
            print(hops.enumerated().map { "\($0.offset + 1). \($0.element.summary): \($0.element.evidence)" }.joined(separator: "\n"))
            if let call = evidence.calls.first, call.reply == nil {
                print("\(hops.count + 1). no answer: \(call.outcome.rawValue)\(call.error.map { " (\($0))" } ?? "")")
            }
            if !result.passed { throw ExitCode(1) }
        }
    }
}
