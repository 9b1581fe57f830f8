import ArgumentParser
import Assertions
import MeshLabRuntime
import Netns

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check what this machine's kernel and tools can do for MeshLab.")

    func run() throws {
        try reportingErrors {
            let probe = try KernelProbe.run()
            print(Table(["", "FEATURE", "DETAIL"], probe.findings.map { [$0.available ? "ok" : "no", $0.feature, $0.detail] }).render())
            if !probe.has("root") || !probe.has("netns+veth") { throw MeshLabError("this machine cannot run labs", hint: "see above") }
        }
    }
}
