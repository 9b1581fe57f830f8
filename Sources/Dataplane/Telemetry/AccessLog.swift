import Foundation
import Glibc

/// One JSON line per connection event, the evidence checks join hops with (by `id`).
public struct ConnectionEvent: Codable, Hashable, Sendable {
    /// A connection's `opened`, `policy` decision, `closed`, `refused`, `failed`; or an L7 proxy's
    /// `request`: one line per HTTP request when it ends (Envoy's access log), carrying its decision.
    public enum Kind: String, Codable, Sendable { case opened, policy, closed, refused, failed, request }

    public var time: Date = Date()
    public var event: Kind
    /// `<node>-<n>`: unique per ztunnel; the outbound side sends it to the inbound side in `traceparent`.
    public var id: String
    public var direction: String
    public var srcAddr: String?
    public var srcWorkload: String?
    public var srcNamespace: String?
    public var srcIdentity: String?
    public var dstAddr: String?
    public var dstHboneAddr: String?
    /// The pooled HBONE connection an outbound stream went over (reuse shows as a repeated id).
    public var hboneConnection: String?
    /// Inbound over HBONE: the span id of the CONNECT's traceparent, which names the outbound event it came from.
    public var traceParent: String?
    public var dstService: String?
    public var dstWorkload: String?
    public var dstIdentity: String?
    public var policy: String?
    public var allowed: Bool?
    public var reason: String?
    public var bytesSent: Int?
    public var bytesRecv: Int?
    public var durationMs: Double?
    public var error: String?
    /// At a waypoint, per request: the method, path, response status and request id.
    public var method: String?
    public var path: String?
    public var status: Int?
    public var requestID: String?
    /// At a waypoint: the HTTPRoute rule taken (`ns/name#index`), the upstream it went to, how many
    /// attempts it took, and Envoy's response flags (FI fault abort, DI delay, UT timeout, UF connect failure).
    public var route: String?
    public var upstreamHost: String?
    public var attempts: Int?
    public var responseFlags: String?

    public init(event: Kind, id: String, direction: String) {
        self.event = event
        self.id = id
        self.direction = direction
    }

    /// Why a node-level ztunnel's outbound connection took no transport: its destination is on the same node.
    public static let sameNodeReason = "same node: handed to the inbound side directly"

    /// The node whose ztunnel logged the event (ids are `<node>-<n>`), or `waypoint <ns>/<name>`, `sidecar <ns>/<name>`.
    public var node: String { id.split(separator: "-").dropLast().joined(separator: "-") }

    /// Who decided, in the words a check's `at:` uses: `ztunnel node-b`, `waypoint ns/name` or `sidecar ns/name`.
    public var hop: String { isWaypoint || isSidecar ? node : "ztunnel \(node)" }
    public var isWaypoint: Bool { id.hasPrefix("waypoint ") }
    public var isSidecar: Bool { id.hasPrefix("sidecar ") }
    /// An authorization decision: a connection's policy event, or an L7 request's line.
    public var isPolicyDecision: Bool { event == .policy || (event == .request && allowed != nil) }

    /// The W3C span id the outbound side puts in its CONNECT's traceparent for connection `id`
    /// (FNV-1a of the id), so the inbound side's events can be joined to it exactly.
    public static func spanID(for id: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return String(format: "%016llx", hash)
    }

    /// This connection's `closed` event: bytes each way and how long it lived.
    public func closed(sent: Int, received: Int, since started: ContinuousClock.Instant) -> ConnectionEvent {
        var event = self
        event.time = Date()
        event.event = .closed
        event.bytesSent = sent
        event.bytesRecv = received
        let elapsed = ContinuousClock.now - started
        event.durationMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return event
    }

    /// This connection's `failed` event: its upstream could not be reached, and why.
    public func failed(_ error: Error) -> ConnectionEvent {
        var event = self
        event.event = .failed
        event.error = "\(error)"
        return event
    }

    enum CodingKeys: String, CodingKey {
        case time, event, id, direction, policy, allowed, reason, error, method, path, status, route, attempts
        case requestID = "request.id", upstreamHost = "upstream.host", responseFlags = "response_flags"
        case srcAddr = "src.addr", srcWorkload = "src.workload", srcNamespace = "src.namespace", srcIdentity = "src.identity"
        case dstAddr = "dst.addr", dstHboneAddr = "dst.hbone_addr", hboneConnection = "hbone.connection", traceParent = "trace.parent", dstService = "dst.service"
        case dstWorkload = "dst.workload", dstIdentity = "dst.identity"
        case bytesSent = "bytes_sent", bytesRecv = "bytes_recv", durationMs = "duration_ms"
    }
}

/// Writes events to stdout (the process log) as JSON lines, one write each, so a check reading the
/// log right after a call sees every line.
public final class AccessLog: @unchecked Sendable {
    private let lock = NSLock()
    /// The timestamp of the last second written (events come many per second).
    private var second = -1
    private var timestamp: [UInt8] = []

    public init() {}

    public func write(_ event: ConnectionEvent) {
        lock.withLock {
            let now = Int(event.time.timeIntervalSince1970)
            if now != second { (second, timestamp) = (now, iso8601(secondsSince1970: now)) }
            let line = event.jsonLine(timestamp: timestamp[...])
            line.withUnsafeBytes { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Glibc.write(STDOUT_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }
}
