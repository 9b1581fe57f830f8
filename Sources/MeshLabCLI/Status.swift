import ArgumentParser
import Assertions
import Foundation
import MeshLab
import MeshLabRuntime

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the labs that are up, or one lab in detail.")

    @Argument(help: "A lab to show in detail.")
    var lab: String?

    @Flag(help: "JSON output.")
    var json = false

    func run() throws {
        try reportingErrors {
            if let lab {
                let directory = StateDirectory(lab: lab)
                guard directory.exists else { throw MeshLabError("no lab named '\(lab)' is up", hint: "`meshlab status` lists them") }
                let report = StatusReport(topology: try directory.topology(), state: try directory.state())
                print(json ? try report.json() : report.tables())
                return
            }
            let labs = StateDirectory.all().compactMap { directory in
                (try? directory.state()).map { ($0, try? directory.topology()) }
            }
            if json {
                let summaries = labs.map { LabSummary(state: $0.0, topology: $0.1) }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(summaries), as: UTF8.self))
            } else if labs.isEmpty {
                print("no labs are up")
            } else {
                print(Table(["LAB", "PHASE", "NODES", "PODS", "PROCESSES", "SOURCE"], labs.map { state, topology in
                    [state.lab, state.phase.rawValue, "\(topology?.nodes.count ?? 0)", "\(topology?.pods.count ?? 0)",
                     "\(state.processes.count)", state.source]
                }).render())
            }
        }
    }
}

struct LabSummary: Encodable {
    var lab: String
    var phase: String
    var nodes: Int
    var pods: Int
    var processes: Int
    var source: String

    init(state: LabState, topology: Topology?) {
        lab = state.lab
        phase = state.phase.rawValue
        nodes = topology?.nodes.count ?? 0
        pods = topology?.pods.count ?? 0
        processes = state.processes.count
        source = state.source
    }
}
