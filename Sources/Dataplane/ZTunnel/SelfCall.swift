import Foundation
import NIOConcurrencyHelpers
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
    /// ztunnel's error text for both.
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

/// The plain upstream sockets this process has open, by local address, and the connects still in
/// being started, by target: a listener that accepts a connection from one of them is looking at
/// its own traffic. A socket's address is known only once its connect is under way, and on loopback
/// the other end may be accepted by then; so a listener whose own address is the target of a
/// connect being started waits for it.
final class OwnConnections: Sendable {
    enum Verdict { case own, other, undecided }

    private struct State {
        var inFlight: [String: Int] = [:]
        var open: Set<String> = []
    }

    private let state = NIOLockedValueBox(State())

    func connecting(to target: String) {
        state.withLockedValue { $0.inFlight[target, default: 0] += 1 }
    }

    /// The connect to `target` is under way from `local` (its kernel port is taken), or never got
    /// there (nil).
    func started(to target: String, from local: String?) {
        state.withLockedValue {
            $0.inFlight[target, default: 1] -= 1
            if $0.inFlight[target] == 0 { $0.inFlight[target] = nil }
            if let local { $0.open.insert(local) }
        }
    }

    func closed(_ local: String) {
        _ = state.withLockedValue { $0.open.remove(local) }
    }

    /// Whether a connection from `remote` that reached `local` is one of ours.
    func verdict(remote: String, local: String) -> Verdict {
        state.withLockedValue {
            if $0.open.contains(remote) { return .own }
            return $0.inFlight[local] == nil ? .other : .undecided
        }
    }
}

extension ZTunnel {
    /// Runs `accept` for a new connection unless it came from this process's own upstream socket,
    /// which is closed and logged instead. Waits (a millisecond at a time, at most as long as a
    /// connect may take) while a connect to the listener's own address is still in flight.
    func unlessOwn(_ channel: Channel, waitingUntil deadline: NIODeadline? = nil, _ accept: @escaping () -> Void) {
        guard let remote = channel.remoteAddress.map(Self.endpoint), let local = channel.localAddress.map(Self.endpoint) else {
            return accept()
        }
        switch own.verdict(remote: remote, local: local) {
        case .other:
            accept()
        case .undecided:
            let deadline = deadline ?? .now() + connectTimeout
            guard NIODeadline.now() < deadline else { return accept() }
            channel.eventLoop.scheduleTask(in: .milliseconds(1)) { self.unlessOwn(channel, waitingUntil: deadline, accept) }
        case .own:
            refuseSelfCall(channel, direction: "inbound", dstAddr: local, reason: SelfCall.ownConnectionReason)
        }
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
