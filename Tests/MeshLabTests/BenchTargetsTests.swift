import Dataplane
import Foundation
import Benchmarks
import XCTest

/// `bench ztunnel` judges the issue's targets on the figures of its own run.
final class BenchTargetsTests: XCTestCase {
    private func figures(_ throughput: Double, p99: Double, connections: Double, cpu: Double? = nil, rss: Double? = nil) -> BenchZTunnel.Figures {
        var figures = BenchZTunnel.Figures()
        figures.throughputMBps = throughput
        figures.p99Serial = p99
        figures.p99Loaded = p99 * 10
        figures.fixedRuns = [requests(p99: p99 / 2)]
        figures.maxRuns = [requests(p99: p99 * 2)]
        figures.connectionsPerSecond = connections
        figures.cpuPer1000KeepAlive = cpu
        figures.rssMB = rss
        return figures
    }

    private func requests(p99: Double) -> LoadSummary {
        let json = #"{"requests": 5000, "errors": 0, "seconds": 5, "requestsPerSecond": 1000, "p50": 0.5, "p90": 0.8, "p99": \#(p99)}"#
        return try! JSONDecoder().decode(LoadSummary.self, from: Data(json.utf8))
    }

    func testEachTargetIsJudgedAgainstThisRunsFigures() {
        let lines = BenchZTunnel.targets([
            ("direct veth", figures(300, p99: 0.8, connections: 5000)),
            ("MeshLab ztunnel", figures(240, p99: 1.4, connections: 2100, cpu: 0.2, rss: 22.3)),
            ("stunnel mTLS", figures(190, p99: 30, connections: 130, cpu: 0.16, rss: 20)),
            ("haproxy mTLS", figures(200, p99: 2.8, connections: 1000, cpu: 0.17, rss: 23)),
        ]).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "targets:")
        XCTAssertTrue(lines.contains { $0.hasPrefix("met") && $0.contains("throughput 240 MB/s") }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.hasPrefix("met") && $0.contains("new connections 2100/s ≥ 2× stunnel's 130/s") })
        XCTAssertTrue(lines.contains("met      p99 ms, calls at c=1 / c=50, requests at 1000 req/s / at max rate: 1.40 / 14.00 / 0.70 / 2.80 ≤ stunnel's 30.00 / 300.00 / 15.00 / 60.00"),
                      lines.joined(separator: "\n"))
        // The pair's CPU is both ends': per ztunnel it is half, next to what each C proxy pays per end.
        XCTAssertTrue(lines.contains { $0.hasPrefix("not met") && $0.contains("per ztunnel: 0.100 (per end: stunnel mTLS 0.080, haproxy mTLS 0.085)") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("not met") && $0.contains("RSS per ztunnel: 22.3 MB (stunnel mTLS 20.0, haproxy mTLS 23.0)") })
    }

    func testARunWithFailedCallsIsNotJudged() {
        var broken = figures(240, p99: 1.4, connections: 2100, cpu: 0.1, rss: 11)
        broken.errors = 2
        let lines = BenchZTunnel.targets([("direct veth", figures(300, p99: 0.8, connections: 5000)), ("MeshLab ztunnel", broken)])
        XCTAssertEqual(lines, "targets:\nnot judged: 2 calls or requests through ztunnel failed or came back altered")
    }

    func testABaselinesFailuresAreNotedAndTheTargetsStillJudged() {
        var stunnel = figures(190, p99: 30, connections: 130)
        stunnel.errors = 2
        let lines = BenchZTunnel.targets([("direct veth", figures(300, p99: 0.8, connections: 5000)),
                                          ("MeshLab ztunnel", figures(240, p99: 1.4, connections: 2100)), ("stunnel mTLS", stunnel)])
        XCTAssertTrue(lines.contains("note     stunnel mTLS: 2 calls or requests failed"), lines)
        XCTAssertTrue(lines.contains("met      new connections 2100/s"), lines)
    }

    func testRelativeTargetsFailWhenStunnelDoesBetter() {
        let lines = BenchZTunnel.targets([
            ("direct veth", figures(300, p99: 0.8, connections: 5000)),
            ("MeshLab ztunnel", figures(140, p99: 40, connections: 200, cpu: 0.1, rss: 11)),
            ("stunnel mTLS", figures(190, p99: 30, connections: 130)),
        ])
        XCTAssertTrue(lines.contains("not met  throughput 140 MB/s ≥ stunnel's 190 and ≥ half of direct's 300"), lines)
        XCTAssertTrue(lines.contains("not met  new connections 200/s ≥ 2× stunnel's 130/s"), lines)
        XCTAssertTrue(lines.contains("not met  p99 ms, calls at c=1 / c=50, requests at 1000 req/s / at max rate: 40.00 / 400.00 / 20.00 / 80.00"), lines)
        XCTAssertTrue(lines.contains("met      ≤ 0.06 CPU s per 1000 keep-alive requests per ztunnel: 0.050"), lines)
        XCTAssertTrue(lines.contains("met      ≤ 12 MB RSS per ztunnel: 11.0 MB"), lines)
    }
}
