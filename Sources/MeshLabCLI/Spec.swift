import ArgumentParser
import Foundation
import MeshLab
import MeshLabRuntime

struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a lab's LabSpec or topology as JSON, or the plan `up` would apply, after validating it. Creates nothing.",
        discussion: "The plan lists every kernel operation in order, as the command that would do it inside its netns; --json prints it as data.")

    enum Stage: String, ExpressibleByArgument, CaseIterable { case spec, topology, plan }

    @Argument(help: "Built-in lab name or lab file path.")
    var lab: String?

    @Option(help: "What to print: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")).")
    var stage: Stage = .spec

    @Flag(help: "Print the plan as JSON (the spec and topology always are).")
    var json = false

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
            case .plan:
                guard json else { return print(PlanListing(plan: Plan(topology)).text()) }
                data = try encoder.encode(Plan(topology))
            }
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
