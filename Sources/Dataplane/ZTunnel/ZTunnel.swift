import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP2
import NIOPosix

/// How traffic reaches ztunnel, which decides where its sockets live.
public enum CaptureMode: Sendable {
    /// In-pod: listeners inside each ambient pod's netns, connections made from there.
    case inPod
    /// Node level (iptables or eBPF): transparent listeners in ztunnel's own netns; upstream
    /// connections from there too, with the pod's address as source.
    case node(netns: String)
}

/// What the process is: a node's ztunnel; a waypoint (the same HBONE and identity machinery, with
/// an L7 proxy behind its 15008 instead of local workloads); or a sidecar, serving its one pod from
/// inside it (listeners 15001/15006/15008 in the pod, which sidecar-injection rules feed).
public enum ProxyRole: Sendable {
    case ztunnel
    case waypoint(uid: String)
    case sidecar(uid: String)

    /// The one workload a waypoint or sidecar serves.
    var servedUID: String? {
        switch self {
        case .ztunnel: nil
        case .waypoint(let uid), .sidecar(let uid): uid
        }
    }
}

/// MeshLab's ztunnel: one per node, serving that node's ambient pods. All state lives on one
/// event loop; every method below runs on it.
public final class ZTunnel: @unchecked Sendable {
    public let node: String
    let mode: CaptureMode
    let role: ProxyRole
    let eventLoop: EventLoop
    let pool: NIOThreadPool
    let log = AccessLog()
    public let metrics = TCPMetrics()
    /// Waypoint role: HTTP request metrics, and the HTTPRoute state (weighted picks, fault counts).
    public let requestMetrics = RequestMetrics()
    let routes = RouteTable()
    /// Trace ids of CONNECTs, and the `x-request-id`s L7 roles add.
    let randomIDs = RandomIDs()
    let connectTimeout = TimeAmount.seconds(10)
    /// This process's plain upstream sockets, so its listeners can refuse their own traffic (SelfCall).
    let own = OwnConnections()

    var mesh: MeshIndex?
    var config: MeshConfig? { mesh?.config }
    var tls: MeshTLS?
    /// Listeners (15001, 15006, 15008) per captured workload uid.
    var captured: [String: [Channel]] = [:]
    var hbonePool: [String: [PooledConnection]] = [:]
    /// Inbound connections, re-authorized on every policy change.
    var tracked: [String: TrackedConnection] = [:]
    private var counter = 0
    /// Connection ids name the node, and after a restart the ztunnel's generation (`node-a-2.17`),
    /// so a draining predecessor and its successor never log the same id.
    private let generation: Int
    private var roundRobin: [String: Int] = [:]
    /// Proxied connection pairs still open (inbound and outbound), which a drain waits for.
    private var openConnections = 0
    private var draining = false
    /// Inbound HBONE connections, told to go away (GOAWAY) when this ztunnel drains.
    var hboneServerConnections: [ObjectIdentifier: Channel] = [:]

    public init(node: String, mode: CaptureMode = .inPod, role: ProxyRole = .ztunnel, generation: Int = 1, eventLoop: EventLoop,
                pool: NIOThreadPool) {
        self.node = node
        self.mode = mode
        self.role = role
        self.generation = generation
        self.eventLoop = eventLoop
        self.pool = pool
    }

    func nextID() -> String {
        counter += 1
        return generation == 1 ? "\(node)-\(counter)" : "\(node)-\(generation).\(counter)"
    }

    // MARK: config

    /// Takes a pushed update: installs identities, captures new local ambient workloads, releases
    /// removed ones, and re-authorizes open connections (closing those now denied).
    public func apply(_ update: ZTunnelUpdate) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            do {
                if self.tls == nil { self.tls = try MeshTLS(trustDomain: update.config.trustDomain, rootPEM: update.rootPEM) }
            } catch {
                return self.eventLoop.makeFailedFuture(error)
            }
            self.tls!.install(update.certificates)
            self.mesh = MeshIndex(update.config)
            let local = update.config.workloads.filter { $0.node == self.node && $0.tunnel == .hbone }
            let keep = self.role.servedUID.map { Set([$0]) } ?? Set(local.map(\.uid))
            for (uid, listeners) in self.captured where !keep.contains(uid) {
                listeners.forEach { $0.close(promise: nil) }
                self.captured[uid] = nil
            }
            self.reauthorize()
            guard !self.draining else { return self.eventLoop.makeSucceededVoidFuture() }
            if case .waypoint(let uid) = self.role { return self.listenAsWaypoint(uid) }
            if case .sidecar(let uid) = self.role {
                guard self.captured[uid] == nil, let pod = self.mesh?.workload(uid: uid) else { return self.eventLoop.makeSucceededVoidFuture() }
                return self.capture(pod)
            }
            if case .node(let netns) = self.mode {
                return self.listenOnNode(netns: netns, serving: local)
            }
            let added = local.filter { self.captured[$0.uid] == nil }
            return EventLoopFuture.andAllSucceed(added.map(self.capture), on: self.eventLoop)
        }
    }

    /// Stops accepting (closes every listener) and completes once the open connections have ended,
    /// or at `deadline`: what a ztunnel does when it is replaced, so connections outlive a rollout.
    public func drain(within deadline: TimeAmount) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            self.draining = true
            self.captured.values.flatMap { $0 }.forEach { $0.close(promise: nil) }
            self.captured = [:]
            let goAway = HTTP2Frame(streamID: .rootStream, payload: .goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil))
            for connection in self.hboneServerConnections.values { connection.writeAndFlush(goAway, promise: nil) }
            let done = self.eventLoop.makePromise(of: Void.self)
            let end = NIODeadline.now() + deadline
            self.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(50)) { task in
                guard self.openConnections == 0 || NIODeadline.now() >= end else { return }
                task.cancel()
                done.succeed(())
            }
            return done.futureResult
        }
    }

    public func dump() -> EventLoopFuture<ZTunnelDump> {
        eventLoop.submit {
            ZTunnelDump(node: self.node, config: self.config, identities: self.tls?.heldIdentities.map(\.uri) ?? [],
                        capturedWorkloads: self.servedWorkloads, openConnections: self.tracked.count,
                        pooledConnections: self.hbonePool.values.reduce(0) { $0 + $1.filter { !$0.closed }.count })
        }
    }

    func identity(of workload: Workload) -> SpiffeID {
        workload.identity(trustDomain: config?.trustDomain ?? "cluster.local")
    }

    /// Opens 15001, 15006 and 15008 inside the workload's netns.
    private func capture(_ workload: Workload) -> EventLoopFuture<Void> {
        let sockets = pool.runIfActive(eventLoop: eventLoop) {
            // Transparent, so the older in-pod form's TPROXY rules may hand them connections too.
            try [15001, 15006, 15008].map { try PodSockets.listen(netns: workload.netns, port: $0, transparent: true) }
        }
        return sockets.flatMap { fds in
            let outbound = self.serve(fds[0]) { channel in self.outbound(channel, from: workload) }
            let plaintext = self.serve(fds[1]) { channel in self.inboundPlaintext(channel, at: workload) }
            let hbone = self.serveHBONE(fds[2]) { _ in workload }
            return outbound.and(plaintext).and(hbone).map { listeners in
                self.captured[workload.uid] = [listeners.0.0, listeners.0.1, listeners.1]
            }
        }
    }

    /// Node level: one set of transparent listeners in ztunnel's own netns serves every enrolled pod;
    /// the node's rules deliver the pods' traffic to them with its original addresses.
    private func listenOnNode(netns: String, serving local: [Workload]) -> EventLoopFuture<Void> {
        let key = "node"
        guard captured[key] == nil else { return eventLoop.makeSucceededVoidFuture() }
        let sockets = pool.runIfActive(eventLoop: eventLoop) {
            try [15001, 15006, 15008].map { try PodSockets.listen(netns: netns, port: $0, transparent: true) }
        }
        return sockets.flatMap { fds in
            let outbound = self.serve(fds[0]) { channel in self.outboundFromNode(channel) }
            let plaintext = self.serve(fds[1]) { channel in self.inboundPlaintextFromNode(channel) }
            let hbone = self.serveHBONE(fds[2]) { channel in
                guard let ip = channel.localAddress?.ipAddress, let workload = self.mesh?.workload(at: ip), workload.node == self.node else { return nil }
                return workload
            }
            return outbound.and(plaintext).and(hbone).map { listeners in
                self.captured[key] = [listeners.0.0, listeners.0.1, listeners.1]
            }
        }
    }

    /// The pods this ztunnel serves: in-pod, those it listens inside; node level, the local ambient ones.
    var servedWorkloads: [String] {
        switch mode {
        case .inPod: captured.keys.sorted()
        case .node: (config?.workloads ?? []).filter { $0.node == node && $0.tunnel == .hbone }.map(\.uid).sorted()
        }
    }

    /// Where connections for `workload` are made from, and with which source address.
    func socketPlacement(for workload: Workload) -> (netns: String, source: String?) {
        switch mode {
        case .inPod: (workload.netns, nil)
        case .node(let netns): (netns, workload.address)
        }
    }

    /// A listener whose accepted connections start paused and are handed to `accept`.
    func serve(_ fd: CInt, accept: @escaping (Channel) -> Void) -> EventLoopFuture<Channel> {
        ServerBootstrap(group: eventLoop)
            .serverChannelOption(.maxMessagesPerRead, value: 64)  // accept bursts in batches
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(Holdback())
                    self.isOwn(channel).whenSuccess { own in own ? self.refuseOwn(channel) : accept(channel) }
                }
            }
            .withBoundSocket(fd)
            .always { _ in PodSockets.restoreBacklog(fd) }
    }

    // MARK: shared plumbing

    /// A plain TCP connection from inside `netns`, paused until glued.
    /// Its socket is remembered in `own` while open, so none of this process's listeners proxies it.
    func connectPlain(netns: String, host: String, port: Int, source: String? = nil) -> EventLoopFuture<Channel> {
        let target = "\(host):\(port)"
        let own = self.own
        let local = NIOLockedValueBox<String?>(nil)
        let socket = PodSockets.connect(netns: netns, host: host, port: port, source: source, timeout: connectTimeout, pool: pool,
                                        eventLoop: eventLoop, connecting: { own.connecting(to: target) }) { address in
            local.withLockedValue { $0 = address }
            own.started(to: target, from: address)
        }
        let connected = socket.flatMap { fd in
            ClientBootstrap(group: self.eventLoop)
                .channelOption(.autoRead, value: false)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Holdback()) }
                }
                .withConnectedSocket(fd)
        }
        connected.whenComplete { result in
            guard let address = local.withLockedValue({ $0 }) else { return }
            switch result {
            case .success(let channel): channel.closeFuture.whenComplete { _ in own.closed(address, to: target) }
            case .failure: own.closed(address, to: target)
            }
        }
        return connected
    }

    /// Joins two channels (each with a `Holdback`) and reports the bytes each side read when both are closed.
    func glue(_ downstream: Channel, _ upstream: Channel, closed: @escaping (_ fromDownstream: Int, _ fromUpstream: Int) -> Void) {
        var fromDownstream = 0, fromUpstream = 0, closes = 0, reported = false
        openConnections += 1
        let report = {
            guard !reported else { return }
            reported = true
            self.openConnections -= 1
            closed(fromDownstream, fromUpstream)
        }
        let (down, up) = GlueHandler.pair(onClose: { fromDownstream = $0; closes += 1; if closes == 2 { report() } },
                                          { fromUpstream = $0; closes += 1; if closes == 2 { report() } })
        do {
            // A side that ended before it was glued (an HBONE stream reset while its upstream
            // connected) would never tell its glue it closed: give the pair up, reported closed.
            guard downstream.isActive, upstream.isActive else { throw ChannelError.alreadyClosed }
            // Both halves must be in place before either side's held bytes flow.
            try downstream.pipeline.syncOperations.addHandler(down)
            try upstream.pipeline.syncOperations.addHandler(up)
            for channel in [downstream, upstream] {
                let holdback = try channel.pipeline.syncOperations.handler(type: Holdback.self)
                holdback.release(try channel.pipeline.syncOperations.context(handler: holdback))
            }
        } catch {
            downstream.close(promise: nil)
            upstream.close(promise: nil)
            report()
            return
        }
        for channel in [downstream, upstream] { channel.setOption(.autoRead, value: true).whenFailure { _ in } }
    }

    /// Picks the next endpoint of a service (round robin, deterministic).
    func pickEndpoint(_ service: MeshService) -> Workload? {
        let candidates = service.endpoints.compactMap { mesh?.workload(uid: $0) }
        guard !candidates.isEmpty else { return nil }
        let key = "\(service.namespace)/\(service.name)"
        let index = roundRobin[key, default: 0]
        roundRobin[key] = index + 1
        return candidates[index % candidates.count]
    }
}

/// An inbound connection kept for re-authorization when policies change.
struct TrackedConnection {
    var facts: ConnectionFacts
    var channels: [Channel]
    var event: ConnectionEvent
}
