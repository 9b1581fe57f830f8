import ArgumentParser
import Foundation
import MeshLab
import MeshLabRuntime

struct Spec: ParsableCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Print a lab's LabSpec, topology or plan as JSON, after validating it. Creates nothing.")

    package enum Stage: String, ExpressibleByArgument, CaseIterable { case spec, topology, plan }

    @Argument(help: "Built-in lab name or lab file path.")
    package var lab: String?

    @Option(help: "What to print: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    package var stage: Stage = .spec

    package func run() throws {
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
