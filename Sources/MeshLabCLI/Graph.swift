import ArgumentParser
import MeshLab
import MeshLabRuntime

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a lab's topology as Graphviz DOT or Mermaid. Creates nothing.",
        discussion: "Example: meshlab graph ambient-basic | dot -Tsvg > lab.svg")

    enum Format: String, ExpressibleByArgument, CaseIterable { case dot, mermaid }

    @Argument(help: "Built-in lab name or lab file path (default: the default lab).")
    var lab: String?

    @Option(help: "dot or mermaid.")
    var format: Format = .dot

    func run() throws {
        try reportingErrors {
            let (spec, _) = try LabLoader(progress: say).load(lab)
            let graph = TopologyGraph(topology: try Topology(spec))
            print(format == .dot ? graph.dot() : graph.mermaid())
        }
    }
}
