import Foundation

/// Istio's HTTP request metrics as a waypoint reports them: `istio_requests_total` and
/// `istio_request_duration_milliseconds` (sum and count), per label set, in Prometheus text.
public final class RequestMetrics: @unchecked Sendable {
    public struct Labels: Hashable, Sendable {
        public var reporter = "waypoint"
        public var sourceWorkload = "unknown"
        public var sourceNamespace = "unknown"
        public var sourcePrincipal = "unknown"
        public var destinationWorkload = "unknown"
        public var destinationNamespace = "unknown"
        public var destinationPrincipal = "unknown"
        public var destinationService = "unknown"
        public var requestProtocol = "http"
        public var responseCode = 0
        public var responseFlags = "-"

        var text: String {
            [("reporter", reporter), ("source_workload", sourceWorkload), ("source_workload_namespace", sourceNamespace),
             ("source_principal", sourcePrincipal), ("destination_workload", destinationWorkload),
             ("destination_workload_namespace", destinationNamespace), ("destination_principal", destinationPrincipal),
             ("destination_service", destinationService), ("request_protocol", requestProtocol),
             ("response_code", String(responseCode)), ("response_flags", responseFlags)]
                .map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",")
        }
    }

    private struct Counters {
        var requests = 0
        var milliseconds = 0.0

        mutating func count(_ milliseconds: Double) {
            requests += 1
            self.milliseconds += milliseconds
        }
    }

    private var counters: [Labels: Counters] = [:]
    private let lock = NSLock()

    public init() {}

    func record(_ labels: Labels, milliseconds: Double) {
        lock.withLock { counters[labels, default: .init()].count(milliseconds) }  // one hash of the labels
    }

    public func render() -> String {
        let snapshot = lock.withLock { counters }.map { ($0.key.text, $0.value) }.sorted { $0.0 < $1.0 }
        guard !snapshot.isEmpty else { return "" }
        var lines = ["# HELP istio_requests_total Requests served", "# TYPE istio_requests_total counter"]
        lines += snapshot.map { "istio_requests_total{\($0.0)} \($0.1.requests)" }
        lines += ["# HELP istio_request_duration_milliseconds Request duration", "# TYPE istio_request_duration_milliseconds summary"]
        lines += snapshot.flatMap { labels, counter in
            ["istio_request_duration_milliseconds_sum{\(labels)} \(counter.milliseconds)", "istio_request_duration_milliseconds_count{\(labels)} \(counter.requests)"]
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
