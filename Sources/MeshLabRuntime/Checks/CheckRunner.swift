import Assertions
import Dataplane
import Foundation
import MeshLab
import Netns

/// Runs a lab's checks against the running lab: drives the calls from the pod's netns with the
/// bundled client, collects what the ztunnels logged meanwhile, and judges every expectation.
package struct CheckRunner {
    package let directory: StateDirectory
    package let topology: Topology
    /// `trace` shows the kernel's hops whatever the expectations.
    package var alwaysReadCounters = false

    package init(directory: StateDirectory, topology: Topology, alwaysReadCounters: Bool = false) {
        self.directory = directory
        self.topology = topology
        self.alwaysReadCounters = alwaysReadCounters
    }

    package func run(_ check: Check) throws -> CheckResult { try runWithEvidence(check).0 }

    /// Runs the check and also returns the evidence it was judged from.
    package func runWithEvidence(_ check: Check) throws -> (CheckResult, Evidence) {
        let started = Date()
        let caller = topology.pod(check.from)!
        let logs = topology.ztunnels.map { directory.log(for: Naming.ztunnelProcess(node: $0.node)) }
            + topology.proxies.map { directory.log(for: Naming.proxyProcess(role: $0.role, pod: $0.pod)) }
        let offsets = logs.map(Self.size)
        // Redirect rule counters (and node-level tunnel counters), for the kernel's part of a path or
        // fast path: read only when one is expected.
        let kernel = check.expect.contains(where: \.needsRuleCounters) || alwaysReadCounters
        let ends = kernel ? counterPlaces(check, caller: caller) : []
        let countersBefore = try ends.map { try RuleCounters.read(in: $0.netns) }
        let tunnelNodes = kernel && nodeLevel ? topology.nodes.map(\.name) : []
        let tunnelsBefore = try tunnelNodes.map { try TunnelCounters.read(socket: Naming.redirectorSocket(lab: topology.lab, node: $0)) }
        let canary = "meshlab-canary-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let captures = try startCaptures(check)
        let output: NetnsCommand.Output
        do {
            output = try makeCalls(check, from: caller, canary: canary)
        } catch {
            for capture in captures { _ = try? capture.capture.stop() }
            throw error
        }
        let calls = output.output.split(separator: "\n").compactMap { try? Self.decoder.decode(CallResult.self, from: Data($0.utf8)) }
        let readEvents = { zip(logs, offsets).flatMap { Self.events(in: $0, from: $1) } }
        var events = readEvents()
        // A proxy logs a request's decision just after it has answered it: a check that judges
        // decisions gives the logs a moment to hold one per answered call.
        if check.expect.contains(where: \.needsDecisions) {
            let answered = calls.filter { $0.reply != nil || $0.status != nil }.count
            let deadline = Date().addingTimeInterval(1)
            while events.filter(\.isPolicyDecision).count < answered && Date() < deadline {
                usleep(20_000)
                events = readEvents()
            }
        }
        var evidence = Evidence(calls: calls, events: events, callerIP: caller.ip.description)
        evidence.canary = canary
        evidence.captures = try captures.map { LinkCapture(link: $0.link, file: $0.capture.file, packets: try $0.capture.stop()) }
        evidence.ruleHits = try zip(ends, countersBefore).flatMap { place, before in
            try RuleCounters.read(in: place.netns).moved(since: before).map { RuleHit(netns: place.netns, node: place.node, rule: $0.rule, packets: $0.packets) }
        }
        for (node, before) in zip(tunnelNodes, tunnelsBefore) {
            let moved = TunnelCounters.moved(node: node, from: before, to: try TunnelCounters.read(socket: Naming.redirectorSocket(lab: topology.lab, node: node)))
            evidence.tunnelHits += moved.tunnels
            evidence.programHits += moved.programs
        }
        evidence.redirect = topology.settings.redirect.rawValue
        if check.expect.contains(where: \.needsConntrack) && topology.settings.redirect != .ebpf {
            // In-pod: the caller's own table and, for inbound capture, the destination's.
            let tables = nodeLevel ? [topology.node(named: caller.node)!.netns] : counterPlaces(check, caller: caller).map(\.netns)
            evidence.conntrack = try tables.flatMap { try Conntrack.dump(in: $0) }
        }
        let verdicts = check.expect.map { judge($0, evidence, caller: check.from) }
        let result = CheckResult(name: check.name, at: check.at.description, passed: !calls.isEmpty && verdicts.allSatisfy(\.passed),
                                 verdicts: verdicts, seconds: Date().timeIntervalSince(started),
                                 problem: calls.isEmpty ? "the client made no calls: \(output.output.prefix(300))" : nil)
        return (result, evidence)
    }

    /// Runs the bundled client in the caller's netns. With a change, the client holds its
    /// connections open and says `held`; the change is made, then the client goes on.
    private func makeCalls(_ check: Check, from caller: Topology.PodInfo, canary: String) throws -> NetnsCommand.Output {
        let arguments = clientArguments(check) + ["--canary", canary]
        guard let change = check.during else {
            return try NetnsCommand.run(Orchestrator.executable, arguments, in: caller.netns)
        }
        let client = try NetnsCommand.start(Orchestrator.executable, arguments + ["--hold-until-input"], in: caller.netns)
        var undo: (() throws -> Void)?
        var failure: Error?
        while let line = client.nextLine() {
            guard line == "held" else { continue }
            do { undo = try LabChange(directory: directory).make(change) } catch { failure = error }
            break
        }
        let output = client.finish()
        try undo?()
        if let failure { throw failure }
        return output
    }

    /// A capture per link the expectations watch, live before the calls start.
    private func startCaptures(_ check: Check) throws -> [(link: String, capture: PacketCapture)] {
        let links = Array(Set(check.expect.flatMap(\.links))).sorted()
        guard !links.isEmpty else { return [] }
        let folder = directory.url.appendingPathComponent("captures")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var started: [(String, PacketCapture)] = []
        do {
            for link in links {
                let (netns, interface) = try interface(of: link)
                let file = folder.appendingPathComponent("\(Self.slug(check.name))-\(Self.slug(link)).pcap").path
                started.append((link, try PacketCapture.start(netns: netns, interface: interface, file: file)))
            }
        } catch {
            for (_, capture) in started { _ = try? capture.stop() }
            throw error
        }
        return started
    }

    /// The netns and interface a link name stands for: the underlay bridge, a node's uplink, a pod's eth0.
    private func interface(of link: String) throws -> (String, String) {
        if link == "underlay" { return (topology.underlay.netns, topology.underlay.bridge) }
        if let node = topology.node(named: link) { return (node.netns, Naming.nodeUplink) }
        if let pod = topology.pod(link) { return (pod.netns, Naming.podInterface) }
        throw MeshLabError("no link '\(link)' in lab '\(topology.lab)'", hint: "name `underlay`, a node or a pod (namespace/pod)")
    }

    package static func slug(_ text: String) -> String {
        String(text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" })
    }

    private func clientArguments(_ check: Check) -> [String] {
        let address: String
        switch check.to {
        case .pod(let pod, let port): address = "\(topology.pod(pod)!.ip):\(port)"
        case .service(let service, let port): address = "\(topology.services.first { "\($0.namespace)/\($0.name)" == service }!.vip):\(port)"
        case .address(let ip, let port): address = "\(ip):\(port)"
        }
        var arguments = ["client", "\(check.protocol.rawValue)://\(address)\(check.request?.path ?? "/")", "-n", String(check.count),
                         "--payload", String(check.payload), "--timeout", "3"]
        if let request = check.request {
            arguments += ["--method", request.method]
            arguments += request.headers.sorted { $0.key < $1.key }.flatMap { ["--header", "\($0.key):\($0.value)"] }
        }
        return arguments
    }

    private var nodeLevel: Bool { !topology.settings.redirect.isInPod }

    /// Where the redirection rules live: in-pod, the caller and an ambient destination pod; node
    /// level, every node (which node a service call lands on is known only afterwards); and sidecar
    /// pods' own rules: the caller's, and every sidecar pod a call could land on.
    private func counterPlaces(_ check: Check, caller: Topology.PodInfo) -> [(netns: String, node: String?)] {
        var places: [(netns: String, node: String?)] = nodeLevel ? topology.nodes.map { ($0.netns, $0.name) } : []
        if !nodeLevel || caller.mode == .sidecar { places.append((caller.netns, nil)) }
        let destinations: [Topology.PodInfo]
        switch check.to {
        case .pod(let pod, _): destinations = topology.pod(pod).map { [$0] } ?? []
        case .service(let service, _): destinations = (topology.services.first { "\($0.namespace)/\($0.name)" == service }?.endpoints ?? []).compactMap(topology.pod)
        case .address: destinations = []
        }
        for destination in destinations where destination.mode == .sidecar || (!nodeLevel && destination.mode == .ambient) {
            places.append((destination.netns, nil))
        }
        return places
    }

    package func judge(_ expectation: Expectation, _ evidence: Evidence, caller: String) -> Verdict {
        switch expectation {
        case .ok: evidence.allSucceeded()
        case .failed(let outcome): evidence.allFailed(outcome)
        case .status(let code): evidence.allAnswered(status: code)
        case .reachedAny(let pods): evidence.answered(byAnyOf: pods)
        case .spreadOver(let pods): evidence.spread(over: pods)
        case .split(let counts): evidence.split(counts)
        case .statuses(let counts): evidence.statuses(counts)
        case .tookAtLeast(let milliseconds): evidence.tookAtLeast(milliseconds: milliseconds)
        case .sourcePreserved(let preserved): evidence.sourcePreserved(preserved)
        case .mtls(let client, let server): evidence.mutualTLS(client: client, server: server)
        case .plaintext: evidence.plaintext()
        case .policy(let allowed, let policy, let reason, let hop): evidence.policyDecision(allowed: allowed, policy: policy, reason: reason, at: hop)
        case .path(let hops): evidence.followed(hops, from: caller)
        case .fastPath(let firstPackets): evidence.fastPath(firstPackets: firstPackets)
        case .hbone(let connections, let streams): evidence.hboneReuse(connections: connections, streams: streams)
        case .onlyHBONE(let link): evidence.onlyHBONE(on: link)
        case .neverInPlaintext(let link): evidence.neverInPlaintext(on: link)
        case .requestHeader(let name): evidence.requestHeader(name)
        case .all(let parts): .all(parts.map { judge($0, evidence, caller: caller) })
        case .any(let parts): .any(parts.map { judge($0, evidence, caller: caller) })
        case .not(let part): .not(judge(part, evidence, caller: caller))
        }
    }

    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    package static func size(_ url: URL) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// The JSON events appended to a log after `offset`.
    package static func events(in url: URL, from offset: UInt64) -> [ConnectionEvent] {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return [] }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(ConnectionEvent.self, from: Data($0)) }
    }
}

/// What a check must collect besides calls and logs, from the expectations it judges.
extension Expectation {
    /// A policy decision: the logs get a moment to catch up with the calls.
    var needsDecisions: Bool { involves { if case .policy = $0 { true } else { false } } }
    /// A path or a fast path: redirect rule (and tunnel) counters.
    var needsRuleCounters: Bool {
        involves {
            switch $0 {
            case .path, .fastPath: true
            default: false
            }
        }
    }
    /// A fast path: the conntrack table.
    var needsConntrack: Bool { involves { if case .fastPath = $0 { true } else { false } } }

    /// Whether this expectation, or one it combines, satisfies `leaf`.
    private func involves(_ leaf: (Expectation) -> Bool) -> Bool {
        switch self {
        case .all(let parts), .any(let parts): parts.contains { $0.involves(leaf) }
        case .not(let part): part.involves(leaf)
        default: leaf(self)
        }
    }
}
