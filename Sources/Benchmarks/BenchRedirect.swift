import ArgumentParser
import Assertions
import Dataplane
import Foundation
import Labs
import MeshLab
import MeshLabCLI
import MeshLabRuntime
import Netns

struct BenchRedirect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redirect",
        abstract: "The eBPF-redirection article's table: HTTP latency at a fixed rate and the maximum requests per second, same node and cross node, without a mesh and in each redirection mode.",
        discussion: """
            One lab per mode, the same pods: a client and an echo server on node-a, another echo server on node-b. \
            Keep-alive HTTP/1.1 from MeshLab's client in the client pod (latency includes any waiting behind a slow answer). \
            Ratios are against no mesh, measured in the same run. The article reports eBPF a bit faster than iptables, \
            especially on the same node; the target is eBPF ≤ iptables on both paths.
            """)

    @Option(help: "Requests per second for the latency measurement.")
    var rate = 1000.0

    @Option(help: "Keep-alive connections for the latency measurement.")
    var connections = 4

    @Option(help: "Keep-alive connections for the maximum-rate measurement.")
    var maxConnections = 16

    @Option(help: "Seconds per measurement.")
    var duration = 3.0

    @Option(help: "Measurements per mode and path, interleaved across modes; the median of each figure is reported.")
    var runs = 3

    struct Row {
        var mode: String
        var path: String
        var fixed: LoadSummary
        var maximum: LoadSummary
    }

    func run() throws {
        try reportingErrors {
            // Every mode's lab is up at once (distinct names), so the runs can be interleaved: a noisy
            // moment on this machine then hits every mode, not just one.
            let modes: [RedirectionMode?] = [nil, .inpod, .iptables, .ebpf]
            var labs: [(name: String, lab: LabSpec, topology: Topology)] = []
            let orchestrator = Orchestrator(progress: { _ in })
            defer { for entry in labs { try? orchestrator.down(entry.lab.name) } }
            for mode in modes {
                let lab = BenchLabs.redirect(mode)
                say("bringing up \(lab.name)")
                labs.append((mode?.rawValue ?? "no mesh", lab, try orchestrator.up(lab, source: "bench").0))
            }
            var measured: [String: [(LoadSummary, LoadSummary)]] = [:]
            for run in 1...runs {
                say("run \(run) of \(runs)")
                for (name, _, topology) in labs {
                    let client = topology.pod("app/client")!
                    for (path, server) in [("same node", "app/near"), ("cross node", "app/far")] {
                        let target = "http://\(topology.pod(server)!.ip):8000/"
                        _ = try load(client, target, ["--duration", "0.3", "--connections", String(connections)])  // warm-up
                        let fixed = try load(client, target, ["--duration", String(duration), "--rate", String(rate), "--connections", String(connections)])
                        let maximum = try load(client, target, ["--duration", String(duration), "--connections", String(maxConnections)])
                        measured["\(name)|\(path)", default: []].append((fixed, maximum))
                    }
                }
            }
            let rows = labs.flatMap { entry in ["same node", "cross node"].map { path in
                let samples = measured["\(entry.name)|\(path)"]!
                return Row(mode: entry.name, path: path, fixed: .median(samples.map(\.0)), maximum: .median(samples.map(\.1)))
            } }
            print(Self.report(rows, rate: rate))
        }
    }

    private func load(_ client: Topology.PodInfo, _ target: String, _ options: [String]) throws -> LoadSummary {
        let output = try NetnsCommand.run(Orchestrator.executable, ["client", target] + options, in: client.netns)
        guard let line = output.output.split(separator: "\n").last,
              let summary = try? JSONDecoder().decode(LoadSummary.self, from: Data(line.utf8)) else {
            throw MeshLabError("the load generator failed against \(target): \(output.output.suffix(300))", hint: "run `meshlab client \(target) --duration 1` in the lab")
        }
        return summary
    }

    static func report(_ rows: [Row], rate: Double) -> String {
        let baseline = { (path: String) in rows.first { $0.mode == "no mesh" && $0.path == path }! }
        let cell = { (value: Double, base: Double, format: String) in String(format: "\(format) (%.2f×)", value, value / base) }
        let table = Table(["MODE", "PATH", "P50 ms", "P90 ms", "P99 ms", "MAX REQ/s", "ERRORS"], rows.map { row in
            let base = baseline(row.path)
            return [row.mode, row.path, cell(row.fixed.p50, base.fixed.p50, "%.3f"), cell(row.fixed.p90, base.fixed.p90, "%.3f"),
                    cell(row.fixed.p99, base.fixed.p99, "%.3f"), cell(row.maximum.requestsPerSecond, base.maximum.requestsPerSecond, "%.0f"),
                    String(row.fixed.errors + row.maximum.errors)]
        })
        var verdicts: [String] = []
        for path in ["same node", "cross node"] {
            guard let ebpf = rows.first(where: { $0.mode == "ebpf" && $0.path == path }),
                  let iptables = rows.first(where: { $0.mode == "iptables" && $0.path == path }) else { continue }
            let met = ebpf.fixed.p99 <= iptables.fixed.p99 && ebpf.fixed.p50 <= iptables.fixed.p50
            verdicts.append(String(format: "%@: eBPF p50 %.2f×, p99 %.2f× of iptables, max req/s %.2f× — %@", path,
                                   ebpf.fixed.p50 / iptables.fixed.p50, ebpf.fixed.p99 / iptables.fixed.p99,
                                   ebpf.maximum.requestsPerSecond / iptables.maximum.requestsPerSecond, met ? "met (eBPF ≤ iptables)" : "NOT met"))
        }
        return table.render() + String(format: "\nlatency at %.0f req/s; medians of the runs; ratios against no mesh on the same path; ", rate)
            + "keep-alive HTTP/1.1 from the client pod\n" + verdicts.joined(separator: "\n")
    }
}
