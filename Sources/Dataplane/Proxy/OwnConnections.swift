import NIOConcurrencyHelpers

/// The plain upstream sockets this process has open, by four-tuple, and the connect calls being made,
/// by target: a listener that accepts a connection from one of them (its peer our socket's address,
/// its own address our socket's target: redirection rules let our marked packets through untouched)
/// is looking at its own traffic. By four-tuple, not local address alone, since a pod's connections
/// may share a port number with one of ours. A socket's address is known only once its connect(2)
/// call returns, and on loopback the other end may be accepted by then; so a listener whose own
/// address is the target of a call being made waits for it.
final class OwnConnections: Sendable {
    enum Verdict { case own, other, undecided }

    private struct State {
        var calling: [String: Int] = [:]
        /// "local>target", counted: two of our sockets may share a local address (to different targets).
        var open: [String: Int] = [:]
    }

    private let state = NIOLockedValueBox(State())

    func connecting(to target: String) {
        state.withLockedValue { $0.calling[target, default: 0] += 1 }
    }

    /// The connect(2) call to `target` returned: under way from `local`, or failed (nil).
    func started(to target: String, from local: String?) {
        state.withLockedValue {
            $0.calling[target, default: 1] -= 1
            if $0.calling[target] == 0 { $0.calling[target] = nil }
            if let local { $0.open["\(local)>\(target)", default: 0] += 1 }
        }
    }

    func closed(_ local: String, to target: String) {
        state.withLockedValue {
            let key = "\(local)>\(target)"
            $0.open[key, default: 1] -= 1
            if $0.open[key] == 0 { $0.open[key] = nil }
        }
    }

    /// Whether a connection from `remote` that reached `local` is one of ours.
    func verdict(remote: String, local: String) -> Verdict {
        state.withLockedValue {
            if $0.open["\(remote)>\(local)"] != nil { return .own }
            return $0.calling[local] == nil ? .other : .undecided
        }
    }
}
