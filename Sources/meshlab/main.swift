import ArgumentParser
import Benchmarks
import MeshLabCLI

/// `meshlab`: declarative test labs for the Istio ambient data plane.
struct MeshLabMain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshlab",
        abstract: "Build Istio ambient data-plane test labs from Swift lab files, in real network namespaces.",
        subcommands: MeshLabCommands.lab + [Bench.self] + MeshLabCommands.dataplane)
}

MeshLabMain.main()
