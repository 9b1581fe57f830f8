import Foundation

/// Istio's TCP metrics, kept per label set and served as Prometheus text on :15020/metrics.
public final class TCPMetrics: @unchecked Sendable {
    public struct Labels: Hashable, Sendable {
        public var reporter: String
        public var sourceWorkload: String
        public var sourceNamespace: String
        public var sourcePrincipal: String
        public var destinationWorkload: String
        public var destinationNamespace: String
        public var destinationPrincipal: String
        public var securityPolicy: String
        public var responseFlags: String
    }

    private struct Counters {
        var opened = 0, closed = 0, received = 0, sent = 0
    }

    private var counters: [Labels: Counters] = [:]
    /// Self-calls refused, by direction. ztunnel only logs these (log_early_deny); MeshLab also counts
    /// them, so a probe of a proxy's own ports shows in its metrics.
    private var selfCalls: [String: Int] = [:]
    private let lock = NSLock()

    public init() {}

    func opened(_ labels: Labels) { lock.withLock { counters[labels, default: .init()].opened += 1 } }

    func closed(_ labels: Labels, received: Int, sent: Int) {
        lock.withLock {
            counters[labels, default: .init()].closed += 1
            counters[labels, default: .init()].received += received
            counters[labels, default: .init()].sent += sent
        }
    }

    func refusedSelfCall(direction: String) { lock.withLock { selfCalls[direction, default: 0] += 1 } }

    public func render() -> String {
        let (snapshot, refused) = lock.withLock { (counters, selfCalls) }
        let families: [(String, String, (Counters) -> Int)] = [
            ("istio_tcp_connections_opened_total", "TCP connections opened", { $0.opened }),
            ("istio_tcp_connections_closed_total", "TCP connections closed", { $0.closed }),
            ("istio_tcp_received_bytes_total", "Bytes received from the client", { $0.received }),
            ("istio_tcp_sent_bytes_total", "Bytes sent to the client", { $0.sent }),
        ]
        var lines: [String] = []
        for (name, help, value) in families {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) counter")
            for (labels, counter) in snapshot.sorted(by: { "\($0.key)" < "\($1.key)" }) {
                let text = [
                    ("reporter", labels.reporter), ("source_workload", labels.sourceWorkload),
                    ("source_workload_namespace", labels.sourceNamespace), ("source_principal", labels.sourcePrincipal),
                    ("destination_workload", labels.destinationWorkload), ("destination_workload_namespace", labels.destinationNamespace),
                    ("destination_principal", labels.destinationPrincipal), ("connection_security_policy", labels.securityPolicy),
                    ("response_flags", labels.responseFlags),
                ].map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",")
                lines.append("\(name){\(text)} \(value(counter))")
            }
        }
        lines.append("# HELP meshlab_self_calls_refused_total Connections to the proxy's own ports, or from its own upstream sockets, refused")
        lines.append("# TYPE meshlab_self_calls_refused_total counter")
        for (direction, count) in refused.sorted(by: { $0.key < $1.key }) {
            lines.append("meshlab_self_calls_refused_total{direction=\"\(direction)\"} \(count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
