import NIOCore
import NIOPosix

/// MeshLab's ztunnel: one per node, serving that node's ambient pods. It decides which pods it
/// captures and where it listens (inside each pod, or once in its own netns at node level); its
/// `L4Proxy` (inbound, inbound passthrough, outbound, HBONE pool, connection manager) carries the
/// traffic. All state lives on one event loop; every method below runs on it.
public final class ZTunnel: MeshProxy, @unchecked Sendable {
    public let node: String
    let mode: CaptureMode
    let inputs: ProxyInputs
    private let proxy: L4Proxy
    /// Listeners (15001, 15006, 15008) per captured workload uid; node level, one set under "node".
    private var captured: [String: [Channel]] = [:]
    private var draining = false

    public init(node: String, mode: CaptureMode = .inPod, generation: Int = 1, eventLoop: EventLoop, pool: NIOThreadPool) {
        self.node = node
        self.mode = mode
        inputs = ProxyInputs(name: node, generation: generation, eventLoop: eventLoop, pool: pool)
        let nodeLevel: Bool = if case .node = mode { true } else { false }
        proxy = L4Proxy(inputs: inputs, mode: mode, serves: { $0.node == node }) { nodeLevel && $0.node == node && $0.tunnel == .hbone }
    }

    // MARK: config

    /// Takes a pushed update: installs identities, captures new local ambient workloads, releases
    /// removed ones, and re-authorizes open connections (closing those now denied).
    public func apply(_ update: ZTunnelUpdate) -> EventLoopFuture<Void> {
        inputs.eventLoop.flatSubmit {
            do { try self.inputs.install(update) } catch { return self.inputs.eventLoop.makeFailedFuture(error) }
            let local = update.config.workloads.filter { $0.node == self.node && $0.tunnel == .hbone }
            let keep = Set(local.map(\.uid))
            for (uid, listeners) in self.captured where !keep.contains(uid) {
                listeners.forEach { $0.close(promise: nil) }
                self.captured[uid] = nil
            }
            self.proxy.manager.reauthorize()
            guard !self.draining else { return self.inputs.eventLoop.makeSucceededVoidFuture() }
            if case .node(let netns) = self.mode {
                return self.listenOnNode(netns: netns)
            }
            let added = local.filter { self.captured[$0.uid] == nil }
            return EventLoopFuture.andAllSucceed(added.map(self.capture), on: self.inputs.eventLoop)
        }
    }

    /// Stops accepting (closes every listener) and completes once the open connections have ended,
    /// or at `deadline`: what a ztunnel does when it is replaced, so connections outlive a rollout.
    public func drain(within deadline: TimeAmount) -> EventLoopFuture<Void> {
        let eventLoop = inputs.eventLoop
        return eventLoop.flatSubmit {
            self.draining = true
            self.captured.values.flatMap { $0 }.forEach { $0.close(promise: nil) }
            self.captured = [:]
            self.proxy.server.goAway()
            let done = eventLoop.makePromise(of: Void.self)
            let end = NIODeadline.now() + deadline
            eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(50)) { task in
                guard self.proxy.forwarder.openConnections == 0 || NIODeadline.now() >= end else { return }
                task.cancel()
                done.succeed(())
            }
            return done.futureResult
        }
    }

    public func dump() -> EventLoopFuture<ZTunnelDump> {
        inputs.eventLoop.submit {
            ZTunnelDump(node: self.node, config: self.inputs.config, identities: self.inputs.tls?.heldIdentities.map(\.uri) ?? [],
                        capturedWorkloads: self.servedWorkloads, openConnections: self.proxy.manager.tracked.count,
                        pooledConnections: self.proxy.pool.pooledConnections)
        }
    }

    public func renderMetrics() -> String { inputs.metrics.render() }

    /// The pods this ztunnel serves: in-pod, those it listens inside; node level, the local ambient ones.
    var servedWorkloads: [String] {
        switch mode {
        case .inPod: captured.keys.sorted()
        case .node: (inputs.config?.workloads ?? []).filter { $0.node == node && $0.tunnel == .hbone }.map(\.uid).sorted()
        }
    }

    // MARK: listeners

    /// Opens 15001, 15006 and 15008 inside the workload's netns.
    private func capture(_ workload: Workload) -> EventLoopFuture<Void> {
        proxy.listen(in: workload.netns, outbound: { self.outbound($0, from: workload) }, plaintext: { self.inboundPlaintext($0, at: workload) },
                     hbone: { _ in workload }, accept: proxy.inbound.accept)
            .map { self.captured[workload.uid] = $0 }
    }

    /// Node level: one set of transparent listeners in ztunnel's own netns serves every enrolled pod;
    /// the node's rules deliver the pods' traffic to them with its original addresses.
    private func listenOnNode(netns: String) -> EventLoopFuture<Void> {
        let key = "node"
        guard captured[key] == nil else { return inputs.eventLoop.makeSucceededVoidFuture() }
        return proxy.listen(in: netns, outbound: outboundFromNode, plaintext: inboundPlaintextFromNode, hbone: { channel in
            guard let ip = channel.localAddress?.ipAddress, let workload = self.inputs.mesh?.workload(at: ip), workload.node == self.node else { return nil }
            return workload
        }, accept: proxy.inbound.accept)
            .map { self.captured[key] = $0 }
    }

    /// A connection captured on 15001 inside `source`'s netns.
    private func outbound(_ downstream: Channel, from source: Workload) {
        PodSockets.originalDestination(downstream).hop(to: inputs.eventLoop).whenComplete { result in
            guard case .success(let (ip, port)) = result else {
                downstream.close(promise: nil)
                return
            }
            self.proxy.outbound.forward(downstream, from: source, to: ip, port: port)
        }
    }

    /// A connection on 15001 in ztunnel's netns (node level): the source is the enrolled pod it
    /// came from, the original destination the local address TPROXY kept.
    private func outboundFromNode(_ downstream: Channel) {
        guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port,
              let sourceIP = downstream.remoteAddress?.ipAddress,
              let source = inputs.mesh?.workload(at: sourceIP), source.node == node, source.tunnel == .hbone else {
            downstream.close(promise: nil)
            return
        }
        proxy.outbound.forward(downstream, from: source, to: ip, port: port)
    }

    /// 15006 inside `workload`'s netns: plaintext from outside the mesh, authorized without identity.
    private func inboundPlaintext(_ downstream: Channel, at workload: Workload) {
        proxy.passthrough.originalDestination(of: downstream) { ip, port in
            guard !self.proxy.passthrough.refusesSelfCall(downstream, ip: ip, port: port) else { return }
            self.proxy.passthrough.forward(downstream, to: workload, ip: ip, port: port)
        }
    }

    /// 15006 in ztunnel's netns (node level): TPROXY kept the original destination as the local address.
    private func inboundPlaintextFromNode(_ downstream: Channel) {
        guard let local = downstream.localAddress, let ip = local.ipAddress, let port = local.port,
              let workload = inputs.mesh?.workload(at: ip), workload.node == node else {
            downstream.close(promise: nil)
            return
        }
        guard !proxy.passthrough.refusesSelfCall(downstream, ip: ip, port: port) else { return }
        proxy.passthrough.forward(downstream, to: workload, ip: ip, port: port)
    }
}
