import ArgumentParser
import Assertions
import Dataplane
import Foundation
import Labs
import MeshLab
import MeshLabCLI
import MeshLabRuntime
import Netns

package struct BenchZTunnel: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "ztunnel",
        abstract: "Cross-node TCP through MeshLab's ztunnel pair, against direct veth, stunnel and haproxy mTLS pairs.",
        discussion: """
            One lab, one run: the same echo server and client for every path. Figures: single-connection \
            throughput (the median of three 64 MiB echoes), latency of a call (connect + 1 KiB echo) at concurrency 1 and at \
            concurrency 50, new connections per second, keep-alive request latency at 1000 req/s and at the most each path \
            answers (the median over rounds interleaved across paths), and each pair's CPU seconds per 1000 calls and per 1000 requests and its memory; then a verdict per target.
            """)

    package init() {}

    /// The rows every other path is compared with: no mesh, and the mesh under test.
    package static let direct = "direct veth", mesh = "MeshLab ztunnel"

    @Option(help: "Calls per latency and connection-rate measurement.")
    package var calls = 2000

    @Option(help: "Rounds of keep-alive requests, interleaved across paths; each request figure is the median over them.")
    package var rounds = 3

    package func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1 (each figure is the median over the rounds)") }
        guard calls >= 4 else { throw ValidationError("--calls must be at least 4 (a quarter of them measure latency at concurrency 1)") }
    }

    package func run() throws {
        try reportingErrors {
            let lab = BenchLabs.ztunnel
            let orchestrator = Orchestrator(progress: say)
            let (topology, _) = try orchestrator.up(lab, source: "bench")
            defer { try? orchestrator.down(lab.name) }
            let directory = StateDirectory(lab: lab.name)
            let meshEcho = topology.pod("mesh/echo")!.ip, plainEcho = topology.pod("plain/echo")!.ip
            let peers = try MTLSPeers(directory: directory, topology: topology)
            defer { peers.stop() }

            let ztunnelPIDs = try Self.pids(directory, topology.ztunnels.map { Naming.ztunnelProcess(node: $0.node) })
            let paths = [MeasuredPath(name: Self.direct, client: "plain/client", target: "\(plainEcho):9000"),
                         MeasuredPath(name: Self.mesh, client: "mesh/client", target: "\(meshEcho):9000", pids: ztunnelPIDs)]
                + peers.started.map { MeasuredPath(name: $0.name, client: "plain/client", target: "127.0.0.1:\($0.localPort)", pids: $0.pids) }

            // Calls path by path; then keep-alive request rounds interleaved across paths, so a slow
            // moment of this shared machine lands on every path alike.
            var rows = try paths.map { path in
                say("measuring \(path.name)")
                return (path.name, try measure(path, lab: lab.name))
            }
            for round in 1...rounds {
                say("keep-alive requests, round \(round) of \(rounds)")
                for (index, path) in paths.enumerated() { try rows[index].1.addRequests(over: path, lab: lab.name) }
            }
            for missing in peers.missing { say("skipped \(missing): not installed (scripts/bench installs it)") }
            print(Self.report(rows))
            print()
            print(Self.targets(rows))
        }
    }

    /// A path under test: the pod its load starts in, the address it calls, and the proxies whose
    /// cost is measured (none for the direct path).
    package struct MeasuredPath {
        package var name: String
        package var client: String
        package var target: String
        package var pids: [Int32] = []
    }

    package struct Figures {
        package init() {}

        package var throughputMBps = 0.0
        package var p50Serial = 0.0, p99Serial = 0.0, p50Loaded = 0.0, p99Loaded = 0.0
        package var connectionsPerSecond = 0.0
        package var cpuPer1000: Double?
        /// ztunnel CPU seconds per 1000 keep-alive HTTP requests (1000 req/s over 4 connections), and
        /// the user-space part of it: on veth pairs the kernel charges the receiving side's TCP work
        /// to the sending process, which real NICs do not.
        package var cpuPer1000KeepAlive: Double?
        package var userCPUPer1000KeepAlive: Double?
        package var rssMB: Double?
        /// Anonymous (private) memory: what the proxy holds itself, without its binary and shared libraries.
        package var privateMB: Double?

        /// Keep-alive HTTP requests over 4 connections, at 1000 req/s and at the most the path answers:
        /// each the median over rounds.
        package var fixedRate: LoadSummary? { fixedRuns.isEmpty ? nil : LoadSummary.median(fixedRuns) }
        package var maxRate: LoadSummary? { maxRuns.isEmpty ? nil : LoadSummary.median(maxRuns) }
        package var fixedRuns: [LoadSummary] = []
        package var maxRuns: [LoadSummary] = []
        /// CPU seconds over every 1000 req/s round, and the requests they answered.
        private var keepAliveCPU = (all: 0.0, user: 0.0, requests: 0)

        /// One round of keep-alive requests: at 1000 req/s (how ztunnel's cost is published: the proxies'
        /// CPU is measured over it, their memory after it), then at the highest rate the path answers.
        package mutating func addRequests(over path: MeasuredPath, lab: String) throws {
            let url = "http://\(path.target)/"
            let before = path.pids.isEmpty ? nil : try BenchZTunnel.processUsage(path.pids)
            let paced = try BenchZTunnel.keepAlive(from: path.client, url, lab: lab)
            if let before {
                let after = try BenchZTunnel.processUsage(path.pids)
                keepAliveCPU.all += after.cpu - before.cpu
                keepAliveCPU.user += after.userCPU - before.userCPU
                keepAliveCPU.requests += paced.requests
                cpuPer1000KeepAlive = keepAliveCPU.all / Double(max(keepAliveCPU.requests, 1)) * 1000
                userCPUPer1000KeepAlive = keepAliveCPU.user / Double(max(keepAliveCPU.requests, 1)) * 1000
                rssMB = after.rssMB
                privateMB = after.privateMB
            }
            let open = try BenchZTunnel.keepAlive(from: path.client, url, lab: lab, seconds: 3, rate: nil)
            fixedRuns.append(paced)
            maxRuns.append(open)
            errors += paced.errors + open.errors
        }
        /// Calls that failed or whose echo came back altered, and requests that failed.
        package var errors = 0
    }

    /// The calls; a path's proxies' CPU is sampled around the loaded call phase (not the bulk transfer).
    private func measure(_ path: MeasuredPath, lab: String) throws -> Figures {
        let (pod, target) = (path.client, path.target)
        let cpu = { path.pids.isEmpty ? nil : try Self.processUsage(path.pids).cpu }
        var figures = Figures()
        // The median of three transfers: one transfer's rate swings by a tenth from run to run here.
        let big = try client(pod, target, lab: lab, ["-n", "3", "--payload", String(64 << 20), "--timeout", "120"])
        let rates = big.filter { $0.echoIntact == true }.map { Double(2 * (64 << 20)) / 1e6 / ($0.milliseconds / 1000) }.sorted()  // echoed: both ways
        figures.throughputMBps = rates.isEmpty ? 0 : rates[rates.count / 2]
        let serial = try client(pod, target, lab: lab, ["-n", String(calls / 4), "--payload", "1024"])
        (figures.p50Serial, figures.p99Serial) = Self.percentiles(serial.map(\.milliseconds))
        let started = Date()
        let cpuBefore = try cpu()
        let loaded = try client(pod, target, lab: lab, ["-n", String(calls), "--concurrency", "50", "--payload", "1024", "--timeout", "60"])
        figures.connectionsPerSecond = Double(loaded.count) / Date().timeIntervalSince(started)
        if let cpuBefore, let cpuAfter = try cpu() { figures.cpuPer1000 = (cpuAfter - cpuBefore) / Double(loaded.count) * 1000 }
        (figures.p50Loaded, figures.p99Loaded) = Self.percentiles(loaded.map(\.milliseconds))
        let broken = (big + serial + loaded).filter { $0.echoIntact != true }
        figures.errors = broken.count + (big.isEmpty ? 1 : 0)
        if let first = broken.first { say("  \(broken.count) calls to \(target) failed or came back altered, e.g. \(first.outcome.rawValue) \(first.error ?? "")") }
        return figures
    }

    /// Keep-alive HTTP load from a pod: `rate` requests per second in total (nil: as fast as answers come).
    package static func keepAlive(from pod: String, _ target: String, lab: String, seconds: Double = 5, rate: Int? = 1000) throws -> LoadSummary {
        let topology = try StateDirectory(lab: lab).topology()
        let pace = rate.map { ["--rate", String($0)] } ?? []
        let output = try NetnsCommand.run(Orchestrator.executable, ["client", target, "--duration", String(seconds), "--connections", "4"] + pace,
                                          in: topology.pod(pod)!.netns)
        guard let line = output.output.split(separator: "\n").last, let summary = try? JSONDecoder().decode(LoadSummary.self, from: Data(line.utf8)) else {
            throw MeshLabError("keep-alive load failed: \(output.output.suffix(300))", hint: "run `meshlab client \(target) --duration 1` in the lab")
        }
        return summary
    }

    private func client(_ pod: String, _ target: String, lab: String, _ options: [String]) throws -> [CallResult] {
        let topology = try StateDirectory(lab: lab).topology()
        let output = try DedicatedThread.run {
            try NetworkNamespace.within(topology.pod(pod)!.netns) {
                try NetnsCommand.runHere(Orchestrator.executable, ["client", "tcp://\(target)"] + options)
            }
        }
        return output.output.split(separator: "\n").compactMap { try? JSONDecoder().decode(CallResult.self, from: Data($0.utf8)) }
    }

    /// CPU seconds (all, and user) summed over a lab's processes by name; RSS and anonymous RSS of the largest.
    package static func processUsage(_ directory: StateDirectory, _ names: [String]) throws -> (cpu: Double, userCPU: Double, rssMB: Double, privateMB: Double) {
        try processUsage(try pids(directory, names))
    }

    package static func pids(_ directory: StateDirectory, _ names: [String]) throws -> [Int32] {
        try directory.state().processes.filter { names.contains($0.name) }.map(\.pid)
    }

    package static func processUsage(_ pids: [Int32]) throws -> (cpu: Double, userCPU: Double, rssMB: Double, privateMB: Double) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var cpu = 0.0, user = 0.0, rss = 0.0, anon = 0.0
        for pid in pids {
            let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            let fields = stat.split(separator: ")").last!.split(separator: " ")
            user += Double(fields[11])! / ticks
            cpu += (Double(fields[11])! + Double(fields[12])!) / ticks  // utime, stime
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let field = { (name: String) in
                Double(status.split(separator: "\n").first { $0.hasPrefix(name) }?.split(separator: " ").dropFirst().first ?? "0")! / 1024
            }
            rss = max(rss, field("VmRSS:"))
            anon = max(anon, field("RssAnon:"))
        }
        return (cpu, user, rss, anon)
    }

    package static func percentiles(_ values: [Double]) -> (Double, Double) {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return (0, 0) }
        return (sorted[sorted.count / 2], sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))])
    }

    /// The issue's targets, each judged on this run's figures: the stunnel pair's where the target is
    /// relative to it, real ztunnel's published cost per ztunnel (half the pair's CPU) next to what the
    /// C pairs pay per end on the same path.
    package static func targets(_ rows: [(String, Figures)]) -> String {
        let figures = Dictionary(rows, uniquingKeysWith: { first, _ in first })
        guard let direct = figures[Self.direct], let mesh = figures[Self.mesh] else { return "" }
        let proxies = rows.filter { $0.0 != Self.direct && $0.0 != Self.mesh }
        let verdict = { (met: Bool, text: String) in (met ? "met      " : "not met  ") + text }
        var lines = ["targets:"]
        guard mesh.errors == 0 else {
            return (lines + ["not judged: \(mesh.errors) calls or requests through ztunnel failed or came back altered"]).joined(separator: "\n")
        }
        for (name, f) in rows where f.errors > 0 {
            lines.append("note     \(name): \(f.errors) calls or requests failed or came back altered; its figures are of the rest")
        }
        if let stunnel = figures["stunnel mTLS"] {
            lines.append(verdict(mesh.throughputMBps >= stunnel.throughputMBps && mesh.throughputMBps >= direct.throughputMBps / 2,
                                 String(format: "throughput %.0f MB/s ≥ stunnel's %.0f and ≥ half of direct's %.0f",
                                        mesh.throughputMBps, stunnel.throughputMBps, direct.throughputMBps)))
            lines.append(verdict(mesh.connectionsPerSecond >= 2 * stunnel.connectionsPerSecond,
                                 String(format: "new connections %.0f/s ≥ 2× stunnel's %.0f/s", mesh.connectionsPerSecond, stunnel.connectionsPerSecond)))
            let p99s = { (f: Figures) in [f.p99Serial, f.p99Loaded, f.fixedRate?.p99 ?? .infinity, f.maxRate?.p99 ?? .infinity] }
            let list = { (values: [Double]) in values.map { String(format: "%.2f", $0) }.joined(separator: " / ") }
            lines.append(verdict(zip(p99s(mesh), p99s(stunnel)).allSatisfy { $0 <= $1 },
                                 "p99 ms, calls at c=1 / c=50, requests at 1000 req/s / at max rate: \(list(p99s(mesh))) ≤ stunnel's \(list(p99s(stunnel)))"))
        } else {
            lines.append("-        throughput, connection rate and p99 are judged against stunnel, which did not run")
        }
        let perEnd = proxies.compactMap { name, f in f.cpuPer1000KeepAlive.map { String(format: "%@ %.3f", name, $0 / 2) } }
        if let cpu = mesh.cpuPer1000KeepAlive {
            lines.append(verdict(cpu / 2 <= 0.06, String(format: "≤ 0.06 CPU s per 1000 keep-alive requests per ztunnel: %.3f", cpu / 2)
                                 + (perEnd.isEmpty ? "" : " (per end: " + perEnd.joined(separator: ", ") + ")")))
        }
        let memory = proxies.compactMap { name, f in f.rssMB.map { String(format: "%@ %.1f", name, $0) } }
        if let rss = mesh.rssMB {
            lines.append(verdict(rss <= 12, String(format: "≤ 12 MB RSS per ztunnel: %.1f MB", rss)
                                 + (memory.isEmpty ? "" : " (" + memory.joined(separator: ", ") + ")")))
        }
        return lines.joined(separator: "\n")
    }

    package static func report(_ rows: [(String, Figures)]) -> String {
        let base = rows[0].1
        let ratio = { (value: Double, baseline: Double) in String(format: "%.2f×", value / baseline) }
        let figure = { (format: String, value: Double?, baseline: Double?) in
            value.map { String(format: format + " (%@)", $0, ratio($0, baseline ?? .nan)) } ?? "-"
        }
        let calls = Table(["PATH", "THROUGHPUT MB/s", "P50 ms (c=1)", "P99 ms (c=1)", "P50 ms (c=50)", "P99 ms (c=50)", "CONN/s", "CPU s/1000 calls", "ERRORS"],
                          rows.map { name, f in
            [name, figure("%.0f", f.throughputMBps, base.throughputMBps),
             figure("%.2f", f.p50Serial, base.p50Serial), figure("%.2f", f.p99Serial, base.p99Serial),
             figure("%.2f", f.p50Loaded, base.p50Loaded), figure("%.2f", f.p99Loaded, base.p99Loaded),
             figure("%.0f", f.connectionsPerSecond, base.connectionsPerSecond),
             f.cpuPer1000.map { String(format: "%.3f", $0) } ?? "-", String(f.errors)]
        })
        let requests = Table(["PATH", "P50 ms @1000 req/s", "P99 ms @1000 req/s", "P50 ms max rate", "P99 ms max rate", "MAX req/s",
                              "CPU s/1000 req (user)", "RSS MB (private)"], rows.map { name, f in
            [name, figure("%.2f", f.fixedRate?.p50, base.fixedRate?.p50), figure("%.2f", f.fixedRate?.p99, base.fixedRate?.p99),
             figure("%.2f", f.maxRate?.p50, base.maxRate?.p50), figure("%.2f", f.maxRate?.p99, base.maxRate?.p99),
             figure("%.0f", f.maxRate?.requestsPerSecond, base.maxRate?.requestsPerSecond),
             f.cpuPer1000KeepAlive.map { String(format: "%.3f (%.3f)", $0, f.userCPUPer1000KeepAlive ?? 0) } ?? "-",
             f.rssMB.map { String(format: "%.1f (%.1f)", $0, f.privateMB ?? 0) } ?? "-"]
        })
        return "calls: a new connection + 1 KiB echoed (throughput: a 64 MiB echo, the median of three)\n" + calls.render() +
            "\n\nkeep-alive HTTP requests over 4 connections, at 1000 req/s and at the most each path answers" +
            " (each the median of \(rows.map(\.1.fixedRuns.count).max() ?? 0) rounds)\n" + requests.render() +
            "\n\nratios against direct veth; CPU and RSS are both ends' of each pair (CPU: summed, RSS: the larger), the C " +
            "proxies' cost on this machine is the baseline for ztunnel's; private = anonymous memory, without binary and libraries"
    }
}
