import Dataplane
import Foundation
import Glibc
import MeshLab
import Netns

/// Brings labs up and down. The only place that turns a Plan into running things.
package struct Orchestrator {
    /// The `meshlab` binary: bundled processes are its subcommands. When MeshLab runs inside another
    /// program (a test bundle using `LabTesting`): `MESHLAB_BINARY`, else the `meshlab` built next to
    /// it, else the one on PATH.
    package static var executable: String { located ?? "meshlab" }

    private static let located: String? = {
        let current = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let url = URL(fileURLWithPath: current)
        if url.lastPathComponent == "meshlab" { return current }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let environment: [String?] = [ProcessInfo.processInfo.environment["MESHLAB_BINARY"]]
        let candidates = environment.compactMap { $0 } + [url.deletingLastPathComponent().appendingPathComponent("meshlab").path]
            + path.split(separator: ":").map { "\($0)/meshlab" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    package var progress: (String) -> Void

    package init(progress: @escaping (String) -> Void = { _ in }) { self.progress = progress }

    /// Validates, plans and applies `spec`. Throws `LabErrors` before touching anything when the lab is
    /// wrong; on any later failure removes everything it made before rethrowing.
    @discardableResult
    package func up(_ spec: LabSpec, source: String) throws -> (Topology, Plan) {
        let topology = try Topology(spec)
        let plan = Plan(topology)
        try preflight(plan)

        // The state, naming every netns the plan makes, is in place before the first of them exists:
        // `clean` finds what a SIGKILL at any later moment leaves, marked or not yet.
        let directory = StateDirectory(lab: spec.name)
        var state = LabState(lab: spec.name, phase: .starting, upPID: getpid(), upStartTime: Residue.startTime(of: getpid()),
                             startedAt: Date(), netns: plan.netnsNames, source: source)
        try directory.create(with: state)
        try directory.write(spec, to: "spec.json")
        try directory.write(topology, to: "topology.json")
        try directory.write(plan, to: "plan.json")

        do {
            progress("creating \(plan.namespaces.count) network namespaces")
            try PlanApplier.createNamespaces(plan)
            progress("creating links")
            try PlanApplier.createLinks(plan)
            progress("assigning addresses and routes")
            try PlanApplier.assignAddresses(plan)
            if !plan.redirection.isEmpty { progress("redirecting ambient pods to ztunnel (\(spec.settings.redirect.rawValue))") }
            try PlanApplier.redirect(plan)
            if !plan.processes.isEmpty { progress("starting \(plan.processes.count) processes") }
            state.processes = try startProcesses(plan.processes, directory: directory)
            if !plan.redirectorCalls.isEmpty { progress("attaching eBPF programs through \(plan.redirectorCalls.count) redirectors") }
            try PlanApplier.callRedirectors(plan)
            if !plan.ztunnelNodes.isEmpty || !topology.sidecars.isEmpty {
                progress("issuing identities and pushing mesh config to \(plan.ztunnelNodes.count) ztunnels and \(topology.proxies.count) proxies")
                let controlPlane = ControlPlane(directory: directory)
                let authority = try controlPlane.createAuthority(trustDomain: topology.settings.trustDomain)
                let config = MeshConfigCompiler.compile(topology, version: 1)
                try controlPlane.push(config, to: plan.ztunnelNodes, authority: authority)
                try controlPlane.push(config, toProxies: topology.proxies, authority: authority)
                state.configVersion = 1
            }
            state.phase = .running
            try directory.save(state)
        } catch {
            progress("bring-up failed; removing what was made")
            try? teardown(lab: spec.name, netns: plan.netnsNames, directory: directory)
            throw error
        }
        return (topology, plan)
    }

    /// Changes a running lab without restarting anything: pods are added (netns, veth, redirection,
    /// app) or removed, and the new mesh config (policies, services, workloads) is pushed; the
    /// ztunnels capture new ambient pods, release removed ones, and close connections now denied.
    package func apply(_ spec: LabSpec) throws -> (version: Int, added: [String], removed: [String]) {
        let directory = StateDirectory(lab: spec.name)
        guard directory.exists else {
            throw MeshLabError("lab '\(spec.name)' is not up", hint: "`meshlab up` it first")
        }
        var state = try directory.state()
        let running = try directory.topology()
        let updated = try Topology(spec, previous: running)
        guard updated.nodes.map(\.name) == running.nodes.map(\.name), updated.hasAmbient == running.hasAmbient else {
            throw MeshLabError("apply cannot add or remove nodes, or turn the mesh on or off",
                           hint: "`meshlab down \(spec.name)` and `meshlab up` again")
        }
        let before = Dictionary(uniqueKeysWithValues: running.pods.map { ($0.id, $0) })
        let after = Dictionary(uniqueKeysWithValues: updated.pods.map { ($0.id, $0) })
        let moved = updated.pods.filter { pod in before[pod.id].map { $0.node != pod.node || $0.mode != pod.mode || $0.app != pod.app } ?? false }
        guard moved.isEmpty else {
            throw MeshLabError("apply cannot change a running pod's node, mode or app: \(moved.map(\.id).joined(separator: ", "))",
                           hint: "remove the pod in one apply and add it back in the next, or rename it")
        }
        let removed = running.pods.filter { after[$0.id] == nil }
        let added = Set(updated.pods.filter { before[$0.id] == nil }.map(\.id))

        // Deleting a pod's host veth removes the pair and the node's route at once (a deleted netns
        // would take them down only when the kernel gets to it).
        let removedNetns = removed.map(\.netns)
        NetnsProcess.terminate(NetnsProcess.pids(inNetnsInodes: Set(removedNetns.compactMap(NetworkNamespace.inode))))
        for pod in removed {
            let nodeNetns = updated.node(named: pod.node)!.netns
            if running.settings.redirect == .iptables && pod.mode == .ambient {
                try releaseFromNode(pod.ip.description, nodeNetns: nodeNetns)
            }
            if running.settings.redirect == .ebpf && pod.mode == .ambient {
                _ = try RedirectorControl.request(RedirectorRequest(release: [pod.ip.description]), at: Naming.redirectorSocket(lab: spec.name, node: pod.node))
            }
            try DedicatedThread.run { try NetworkNamespace.within(nodeNetns) { try RouteSocket().deleteLink(pod.hostVeth) } }
            try NetworkNamespace.delete(pod.netns)
        }
        state.netns.removeAll { removedNetns.contains($0) }
        state.processes.removeAll { removedNetns.contains($0.netns) }

        let addition = Plan(updated, addingPods: added)
        state.netns += addition.netnsNames  // recorded first, so a crash here is still cleaned up
        try directory.save(state)
        if !added.isEmpty {
            try PlanApplier.createNamespaces(addition)
            try PlanApplier.createLinks(addition)
            try PlanApplier.assignAddresses(addition)
            try PlanApplier.redirect(addition)
            state.processes += try startProcesses(addition.processes, directory: directory)
            try PlanApplier.callRedirectors(addition)
        }

        var version = state.configVersion ?? 0
        if !updated.ztunnels.isEmpty || !updated.sidecars.isEmpty {
            version += 1
            let controlPlane = ControlPlane(directory: directory)
            try controlPlane.push(MeshConfigCompiler.compile(updated, version: version), toProxies: updated.proxies, authority: try controlPlane.authority())
            try controlPlane.push(MeshConfigCompiler.compile(updated, version: version), to: updated.ztunnels.map(\.node),
                                  authority: try controlPlane.authority())
            state.configVersion = version
        }
        state.phase = .running
        try directory.save(state)
        try directory.write(spec, to: "spec.json")
        try directory.write(updated, to: "topology.json")
        try directory.write(Plan(updated), to: "plan.json")
        return (version, added.sorted(), removed.map(\.id))
    }

    /// Replaces a node's ztunnel, as a DaemonSet rollout does: the new one starts and takes the
    /// current config (its listeners open beside the old ones), then the old one is told to stop
    /// (SIGTERM): it stops accepting and lets its open connections finish. A ztunnel that had died
    /// is simply started again; while none runs, captured traffic fails: nothing bypasses it.
    package func restartZTunnel(lab: String, node: String) throws {
        let directory = StateDirectory(lab: lab)
        guard directory.exists else { throw MeshLabError("lab '\(lab)' is not up", hint: "`meshlab status` lists the labs that are up") }
        var state = try directory.state()
        let plan = try directory.read(Plan.self, from: "plan.json")
        guard var spec = plan.processes.first(where: { $0.name == Naming.ztunnelProcess(node: node) }) else {
            throw MeshLabError("lab '\(lab)' has no ztunnel on node '\(node)'", hint: "ztunnels run on: \(plan.ztunnelNodes.joined(separator: ", "))")
        }
        let generation = (state.ztunnelGenerations?[node] ?? 1) + 1
        spec.arguments += ["--generation", String(generation)]
        let old = state.processes.filter { $0.name == spec.name }.map(\.pid)
        let started = try startProcesses([spec], directory: directory)
        state.processes.removeAll { $0.name == spec.name }
        state.processes += started
        state.ztunnelGenerations = (state.ztunnelGenerations ?? [:]).merging([node: generation]) { $1 }
        try directory.save(state)
        let controlPlane = ControlPlane(directory: directory)
        try controlPlane.push(MeshConfigCompiler.compile(try directory.topology(), version: state.configVersion ?? 1), to: [node],
                              authority: try controlPlane.authority())
        for pid in old { kill(pid, SIGTERM) }  // it drains and exits on its own; `down` finds it by its netns
    }

    /// Removes a lab completely: processes, netns (and with them every link), state.
    package func down(_ lab: String) throws {
        let directory = StateDirectory(lab: lab)
        guard directory.exists else {
            throw MeshLabError("no lab named '\(lab)' is up", hint: "`meshlab status` lists the labs that are up")
        }
        var state = try directory.state()
        state.phase = .stopping
        try directory.save(state)
        try teardown(lab: lab, netns: state.netns, directory: directory)
    }

    /// Removes what crashed runs left: labs whose `up` died before finishing (or whose `down` died),
    /// netns marked by labs whose state is gone, and the scratch things of processes that are gone.
    /// Labs that run, or whose `up` is still at work, stay. Returns what it removed.
    package func clean() throws -> [String] {
        var removed: [String] = []
        for directory in StateDirectory.all() {
            // A lab directory is created with its state in it (`create(with:)`): one without is not a lab's.
            guard let state = try? directory.state() else {
                try directory.remove()
                continue
            }
            if state.phase == .running || (state.phase == .starting && state.upIsAlive) { continue }
            try teardown(lab: state.lab, netns: state.netns, directory: directory)
            removed.append(state.lab)
        }
        for staging in StateDirectory.abandonedStaging() {
            try FileManager.default.removeItem(at: staging)
            removed.append(staging.path)
        }
        // Netns first, labs second: an `up` that starts meanwhile has its directory before its first netns.
        let marked = try Residue.scan(labOf: Naming.lab(fromMarker:))
        let live = Set(StateDirectory.all().map(\.lab))
        let orphans = marked.filter { $0.lab.map { !live.contains($0) } ?? false }
        for (lab, entries) in Dictionary(grouping: orphans, by: { $0.lab! }).sorted(by: { $0.key < $1.key }) {
            try teardown(lab: lab, netns: entries.map(\.name), directory: StateDirectory(lab: lab))
            removed.append(lab)
        }
        return removed + (try cleanScratch())
    }

    /// Scratch netns and files named after the process that made them, once it is gone and nothing
    /// uses them: a named probe netns (older MeshLab's), a redirector's
    /// half-compiled eBPF object, a lab file's compile folder.
    private func cleanScratch() throws -> [String] {
        let netns = Residue.abandonedScratchNetns()
        try removeNetns(netns)
        let temporary = FileManager.default.temporaryDirectory.path
        let compileFolders = Residue.abandoned((try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []) { name in
            name.hasPrefix(Self.labCompileFolderPrefix) ? pid_t(name.dropFirst(Self.labCompileFolderPrefix.count)) : nil
        }.map { "\(temporary)/\($0)" }
        let files = (BPFRedirector.abandonedObjectFiles() + compileFolders).filter { !Residue.isInUse($0) }
        for path in files { try FileManager.default.removeItem(atPath: path) }
        return netns.map { "scratch netns \($0)" } + files
    }

    /// `LabCompiler` compiles a lab file in `<tmp>/meshlab-lab-<pid>`; `up` of a lab file killed meanwhile leaves it.
    private static let labCompileFolderPrefix = "meshlab-lab-"

    private static let noExecutable = MeshLabError(
        "the `meshlab` binary that runs a lab's processes was not found next to this program or on PATH",
        hint: "`swift build --product meshlab` in your package (it lands next to your test bundle), or set MESHLAB_BINARY")

    private func preflight(_ plan: Plan) throws {
        guard Self.located != nil || plan.processes.isEmpty else { throw Self.noExecutable }
        let probe = try KernelProbe.run()
        let nodeLevel = plan.redirect == .iptables && !plan.redirection.isEmpty
        let ebpf = !plan.redirectorCalls.isEmpty
        let required = ["root", "netns+veth"] + (plan.redirection.isEmpty ? [] : ["iptables", "iptables-restore"]) + (nodeLevel ? ["tap"] : [])
            + (ebpf ? ["tc-clsact", "clang-bpf"] : [])
        let missing = probe.findings.filter { required.contains($0.feature) && !$0.available }
        guard missing.isEmpty else {
            throw MeshLabError(missing.map { "\($0.feature): \($0.detail)" }.joined(separator: "\n"),
                           hint: "`meshlab doctor` shows what this machine can do")
        }
        if StateDirectory(lab: plan.lab).exists {
            throw MeshLabError("lab '\(plan.lab)' is already up", hint: "`meshlab down \(plan.lab)` first, or `meshlab clean` if its `up` crashed")
        }
        let taken = plan.netnsNames.filter(NetworkNamespace.exists)
        guard taken.isEmpty else {
            throw MeshLabError("network namespaces already exist: \(taken.prefix(5).joined(separator: ", "))\(taken.count > 5 ? " …" : "")",
                           hint: "`meshlab clean` removes what crashed labs left; otherwise rename the lab")
        }
    }

    private func startProcesses(_ specs: [ProcessSpec], directory: StateDirectory) throws -> [LabState.ProcessRecord] {
        let executable = Self.executable
        return try DedicatedThread.parallel(specs, threads: 8) { spec in
            let pid = try NetnsProcess.start(
                executable: executable, arguments: spec.arguments, netns: spec.netns,
                logPath: directory.log(for: spec.name).path)
            return LabState.ProcessRecord(name: spec.name, netns: spec.netns, pid: pid)
        }
    }

    /// Node iptables mode: a pod removed from a running lab leaves the node's ipset and `istioin` routes
    /// (the reverse of `NodeIptablesRedirection.enrollOps`).
    private func releaseFromNode(_ ip: String, nodeNetns: String) throws {
        try DedicatedThread.run {
            try NetworkNamespace.within(nodeNetns) {
                _ = try NetnsCommand.runHere("ipset", ["del", NodeIptablesRedirection.podSet, ip, "-exist"])
                let inbound = NodeIptablesRedirection.inbound
                try RouteSocket().deleteRoute("\(ip)/32", gateway: inbound.ztunnelAddress, device: inbound.nodeDevice,
                                              table: NodeIptablesRedirection.inboundTable)
            }
        }
    }

    /// Kills every process inside the lab's netns (whoever started them), deletes the netns, removes state.
    /// The state goes last: until then, a `clean` after a crash here finds the rest again.
    private func teardown(lab: String, netns: [String], directory: StateDirectory) throws {
        try removeNetns(netns)
        try directory.remove()
    }

    /// Kills every process inside the netns, then deletes them: the kernel frees a netns, its links
    /// and the eBPF programs attached to them only once no process is left inside.
    private func removeNetns(_ netns: [String]) throws {
        let inodes = Set(netns.compactMap(NetworkNamespace.inode))
        // Again until none is found: one being stopped may just have started another (a redirector its clang).
        for _ in 0..<10 {
            let pids = NetnsProcess.pids(inNetnsInodes: inodes)
            if pids.isEmpty { break }
            NetnsProcess.terminate(pids)
        }
        for name in netns { try NetworkNamespace.delete(name) }
    }
}
