import ArgumentParser
import Assertions
import Dataplane
import Foundation
import Labs
import MeshLab
import MeshLabCLI
import MeshLabRuntime

struct BenchWaypoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waypoint",
        abstract: "Keep-alive HTTP through ztunnel only, ztunnel + waypoint, and sidecar → sidecar; the waypoint's cost per 1000 requests.",
        discussion: """
            One lab, cross node, the same echo server behind each path. Each round measures every path in \
            turn (so drift hits all alike): latency at 1000 req/s over 4 connections, then the most \
            requests per second 4 connections get; figures are medians of the rounds, the waypoint's added \
            p99 the median of each round's difference. The waypoint's CPU seconds per 1000 requests are \
            taken over the paced runs, its RSS at the end.
            """)

    @Option(help: "Rounds; each figure is the median over them.")
    var rounds = 3

    @Option(help: "Seconds per run.")
    var seconds = 4.0

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1 (each figure is the median over the rounds)") }
    }

    func run() throws {
        try reportingErrors {
            let lab = BenchLabs.waypoint
            let orchestrator = Orchestrator(progress: say)
            let (topology, _) = try orchestrator.up(lab, source: "bench")
            defer { try? orchestrator.down(lab.name) }
            let directory = StateDirectory(lab: lab.name)
            let waypointProcess = "waypoint-l7-waypoint"
            let paths = [
                ("ztunnel only", "mesh/client", "mesh/echo"),
                ("ztunnel + waypoint", "mesh/client", "l7/echo"),
                ("sidecar → sidecar", "injected/client", "injected/echo"),
            ]
            var paced = Array(repeating: [LoadSummary](), count: paths.count), open = paced
            var waypointCPU = 0.0, waypointRequests = 0
            for round in 1...rounds {
                say("round \(round) of \(rounds)")
                for (index, (_, client, server)) in paths.enumerated() {
                    let target = "http://\(topology.pod(server)!.ip):8000/"
                    let before = try BenchZTunnel.processUsage(directory, [waypointProcess]).cpu
                    let load = try BenchZTunnel.keepAlive(from: client, target, lab: lab.name, seconds: seconds)
                    if index == 1 {
                        waypointCPU += try BenchZTunnel.processUsage(directory, [waypointProcess]).cpu - before
                        waypointRequests += load.requests
                    }
                    paced[index].append(load)
                    open[index].append(try BenchZTunnel.keepAlive(from: client, target, lab: lab.name, seconds: seconds, rate: nil))
                }
            }
            let usage = try BenchZTunnel.processUsage(directory, [waypointProcess])
            let rows = paths.indices.map { (paths[$0].0, LoadSummary.median(paced[$0]), LoadSummary.median(open[$0])) }
            let table = Table(["PATH", "P50 ms @1000 rps", "P99 ms @1000 rps", "MAX req/s", "ERRORS"], rows.map { name, paced, open in
                [name, String(format: "%.3f", paced.p50), String(format: "%.3f", paced.p99), String(format: "%.0f", open.requestsPerSecond),
                 String(paced.errors + open.errors)]
            })
            print(table.render())
            // Paired by round (the two paths run back to back), so drift between rounds cancels out.
            let differences = zip(paced[1], paced[0]).map { $0.p99 - $1.p99 }.sorted()
            let added = differences[rounds / 2]
            let cpu = waypointCPU / Double(max(waypointRequests, 1)) * 1000
            print(String(format: "waypoint: %.3f CPU s per 1000 requests (= vCPU at 1000 req/s; target ≤ 0.25), RSS %.1f MB (private %.1f; target ≤ 60), "
                         + "added p99 %.3f ms over ztunnel only (median of the rounds' differences, which ranged %.3f…%.3f; target ≤ 1 ms)",
                         cpu, usage.rssMB, usage.privateMB, added, differences.first!, differences.last!))
        }
    }
}
