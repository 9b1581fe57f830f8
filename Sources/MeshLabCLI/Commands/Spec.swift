import ArgumentParser
import Foundation
import MeshLab

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a lab's LabSpec, topology or plan as JSON, after validating it. Creates nothing.")

    enum Stage: String, ExpressibleByArgument, CaseIterable { case spec, topology, plan }

    @Argument(help: "Built-in lab name or lab file path.")
    var lab: String?

    @Option(help: "What to print: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var stage: Stage = .spec

    func run() throws {
        try reportingErrors {
            let (spec, _) = try LabLoader(progress: say).load(lab)
            let topology = try Topology(spec)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data: Data
            switch stage {
            case .spec: data = try encoder.encode(spec)
            case .topology: data = try encoder.encode(topology)
            case .plan: data = try encoder.encode(Plan(topology))
            }
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
