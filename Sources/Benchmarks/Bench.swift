import ArgumentParser
import Assertions
import Foundation
import Labs
import MeshLab
import MeshLabCLI
import MeshLabRuntime

package struct Bench: ParsableCommand {
    package static let configuration = CommandConfiguration(
        abstract: "Benchmarks (not tests): figures with ratios against a baseline measured in the same run.",
        subcommands: [BenchUp.self, BenchZTunnel.self, BenchRedirect.self, BenchWaypoint.self])

    package init() {}
}

struct BenchUp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Time `up` and `down` of bare-pod labs against `ip -batch` creating the same netns and veth pairs.")

    @Option(name: .customLong("pods"), help: "Lab sizes in pods (repeatable).")
    var sizes: [Int] = [100, 500]

    @Option(help: "Runs per size; the median is reported.")
    var runs = 3

    func run() throws {
        try reportingErrors {
            var rows: [[String]] = []
            for pods in sizes {
                let lab = BenchLabs.scale(pods: pods)
                let topology = try Topology(lab)
                var up: [Double] = [], down: [Double] = [], baseUp: [Double] = [], baseDown: [Double] = []
                for _ in 0..<runs {
                    up.append(try time { try Orchestrator().up(lab, source: "bench") })
                    down.append(try time { try Orchestrator().down(lab.name) })
                    let baseline = IPBatchBaseline(topology: topology)
                    baseUp.append(try time { try baseline.up() })
                    baseDown.append(try time { try baseline.down() })
                }
                let (u, d, bu, bd) = (median(up), median(down), median(baseUp), median(baseDown))
                rows.append([String(pods), seconds(u), seconds(bu), ratio(u, bu), seconds(d), seconds(bd), ratio(d, bd)])
            }
            print(Table(["PODS", "UP", "IP -BATCH UP", "RATIO", "DOWN", "IP -BATCH DOWN", "RATIO"], rows).render())
            print("ratio = MeshLab / ip -batch (lower is better); median of \(runs) runs; targets: 100 pods up ≤ 0.5 s, 500 ≤ 2 s, down ≤ 0.5 s")
        }
    }

    private func time(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    private func seconds(_ value: Double) -> String { String(format: "%.3f s", value) }
    private func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f×", a / b) }
}

/// The baseline: what a shell script does with iproute2 — one `ip -batch` for the netns, one per
/// node netns for its veth pairs (peers created straight into the pod netns), one for removal.
struct IPBatchBaseline {
    var topology: Topology
    private var prefix: String { "ipb-\(topology.lab)" }

    private func netns(_ name: String) -> String { "\(prefix)-\(name)" }

    func up() throws {
        let names = [netns("underlay")] + topology.nodes.map { netns($0.name) } + topology.pods.map { netns($0.id.replacingOccurrences(of: "/", with: "-")) }
        try ip([], names.map { "netns add \($0)" })
        try ip(["-n", netns("underlay")], topology.nodes.map { "link add \($0.underlayPort) type veth peer name eth0 netns \(netns($0.name))" })
        for node in topology.nodes {
            try ip(["-n", netns(node.name)], topology.pods.filter { $0.node == node.name }.map {
                "link add \($0.hostVeth) type veth peer name eth0 netns \(netns($0.id.replacingOccurrences(of: "/", with: "-")))"
            })
        }
    }

    func down() throws {
        let names = (try FileManager.default.contentsOfDirectory(atPath: "/run/netns")).filter { $0.hasPrefix(prefix + "-") }
        try ip([], names.map { "netns del \($0)" })
    }

    private func ip(_ options: [String], _ commands: [String]) throws {
        guard !commands.isEmpty else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = options + ["-batch", "-"]
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(commands.joined(separator: "\n").appending("\n").utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw MeshLabError("ip -batch failed (baseline)", hint: "run `meshlab clean` and retry") }
    }
}
