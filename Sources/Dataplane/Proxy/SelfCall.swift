import Foundation
import NIOCore

/// Two defences against a proxy calling itself, which would loop until its descriptors run out.
///
/// By rule, as ztunnel: its own listening ports are illegal destinations. ztunnel's config puts
/// 15001, 15006 and 15008 in `illegal_ports`; a plaintext connection to one is dropped
/// (src/proxy/inbound_passthrough.rs), an HBONE CONNECT to one is answered 503
/// (src/proxy/inbound.rs, after resolving the final port), and an outbound call to one on a
/// loopback address is refused (src/proxy/outbound.rs); each is logged as "attempted recursive call
/// to ourselves" (src/proxy.rs, Error::SelfCall).
///
/// By construction, whatever ports come later: `OwnConnections` remembers every plain upstream
/// socket this process opened, and a listener refuses a connection that comes from one of them.
enum SelfCall {
    /// ztunnel's error text (Error::SelfCall), and MeshLab's for the guard below the rule.
    static let reason = "attempted recursive call to ourselves"
    static let ownConnectionReason = "connection originated by this proxy came back to it"

    /// ztunnel's `illegal_ports`. `MESHLAB_ZTUNNEL_ILLEGAL_PORTS` (comma-separated, empty for none)
    /// replaces them, as ztunnel's own tests do, so a test can show the construction guard alone holds.
    static let illegalPorts: Set<Int> = {
        guard let text = ProcessInfo.processInfo.environment["MESHLAB_ZTUNNEL_ILLEGAL_PORTS"] else { return [15001, 15006, 15008] }
        return Set(text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) })
    }()

    static func isLoopback(_ ip: String) -> Bool { ip.hasPrefix("127.") }
}

extension ProxyInputs {
    /// Whether a new connection came from this process's own upstream socket. Waits (a millisecond at
    /// a time, at most as long as a connect may take) while a connect(2) call to the listener's own
    /// address is being made.
    func isOwn(_ channel: Channel, waitingUntil deadline: NIODeadline? = nil) -> EventLoopFuture<Bool> {
        guard let remote = channel.remoteAddress.map(Self.endpoint), let local = channel.localAddress.map(Self.endpoint) else {
            return channel.eventLoop.makeSucceededFuture(false)
        }
        switch own.verdict(remote: remote, local: local) {
        case .own: return channel.eventLoop.makeSucceededFuture(true)
        case .other: return channel.eventLoop.makeSucceededFuture(false)
        case .undecided:
            let deadline = deadline ?? .now() + connectTimeout
            guard NIODeadline.now() < deadline else { return channel.eventLoop.makeSucceededFuture(false) }
            return channel.eventLoop.flatScheduleTask(in: .milliseconds(1)) { self.isOwn(channel, waitingUntil: deadline) }.futureResult
        }
    }

    func refuseOwn(_ channel: Channel) {
        refuseSelfCall(channel, direction: "inbound", dstAddr: channel.localAddress.map(Self.endpoint) ?? "?", reason: SelfCall.ownConnectionReason)
    }

    /// Logs a refused self-call (the access log line ztunnel's log_early_deny writes), counts it, closes.
    func refuseSelfCall(_ channel: Channel, direction: String, dstAddr: String, reason: String = SelfCall.reason) {
        var event = ConnectionEvent(event: .refused, id: nextID(), direction: direction)
        event.srcAddr = channel.remoteAddress.map(Self.endpoint)
        event.dstAddr = dstAddr
        event.error = reason
        event.reason = reason
        log.write(event)
        metrics.refusedSelfCall(direction: direction)
        channel.close(promise: nil)
    }

    static func endpoint(_ address: SocketAddress) -> String { "\(address.ipAddress ?? "?"):\(address.port ?? 0)" }
}
