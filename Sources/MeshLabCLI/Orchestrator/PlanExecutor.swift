import Dataplane
import Glibc
import MeshLab
import Netns

/// Applies a Plan's kernel phases through Netns. Each phase's entries run in parallel on
/// dedicated threads (each entry touches one netns); phases run in order.
enum PlanExecutor {
    static func createNamespaces(_ plan: Plan) throws {
        let marker = plan.marker
        _ = try DedicatedThread.parallel(plan.namespaces) { setup in
            try NetworkNamespace.create(setup.name) {
                try RouteSocket().setLink("lo", up: true, alias: marker)
                for sysctl in setup.sysctls { try SysctlWriter.write(sysctl.key, sysctl.value) }
            }
        }
    }

    static func createLinks(_ plan: Plan) throws {
        _ = try DedicatedThread.parallel(plan.links) { try run($0) }
    }

    static func assignAddresses(_ plan: Plan) throws {
        _ = try DedicatedThread.parallel(plan.addressing) { try run($0) }
    }

    /// Redirection: node-level setup first (tunnels, rules, routing), then each ambient pod (its
    /// in-pod rules, or its enrollment on the node), in parallel per netns.
    static func redirect(_ plan: Plan) throws {
        let nodes = plan.redirection.filter { if case .nodeIptables = $0 { true } else { false } }
        let marker = plan.marker
        _ = try DedicatedThread.parallel(nodes) { try NodeLevelRedirection.setUp($0, marker: marker) }
        var enrollments: [String: [String]] = [:]
        var inPod: [(netns: String, tproxy: Bool)] = []
        for step in plan.redirection {
            switch step {
            case .inPod(let netns, _, let tproxy): inPod.append((netns, tproxy))
            case .enroll(let netns, _, let ip): enrollments[netns, default: []].append(ip)
            case .nodeIptables: break
            case .ebpfZTunnel(let netns): try NodeLevelRedirection.deliverAssignedLocally(in: netns)
            }
        }
        _ = try DedicatedThread.parallel(Array(enrollments)) { try NodeLevelRedirection.enroll($0.value, onNode: $0.key) }
        let tproxyForms = Set(inPod.filter(\.tproxy).map(\.netns))
        _ = try DedicatedThread.parallel(inPod.map(\.netns)) { netns in
            let tproxy = tproxyForms.contains(netns)
            try NetworkNamespace.within(netns) {
                let rules = tproxy ? InPodRedirection.tproxyRules : InPodRedirection.rules
                let restore = try NetnsCommand.runHere("iptables-restore", ["--noflush"], input: rules)
                guard restore.status == 0 else {
                    throw NetnsError("iptables-restore in \(netns) failed: \(restore.output)")
                }
                let socket = try RouteSocket()
                try socket.addRule(priority: InPodRedirection.rulePriority, fwmark: InPodRedirection.routingMark,
                                   mask: InPodRedirection.routingMask, table: InPodRedirection.routingTable)
                try socket.addRoute(nil, device: "lo", table: InPodRedirection.routingTable, local: true)
            }
        }
    }

    /// Runs one netns's operations from a thread inside it.
    private static func run(_ entry: NetnsOps) throws {
        try NetworkNamespace.within(entry.netns) {
            let socket = try RouteSocket()
            for op in entry.ops {
                do {
                    try apply(op, socket)
                } catch {
                    throw NetnsError("in netns \(entry.netns): \(error)")
                }
            }
        }
    }

    private static func apply(_ op: NetOp, _ socket: RouteSocket) throws {
        switch op {
        case .bridge(let name, let alias):
            try socket.createBridge(name)
            try socket.setLink(name, alias: alias)
        case .veth(let name, let alias, let peer, let peerNetns, let master):
            let peerFD = open(NetworkNamespace.path(peerNetns), O_RDONLY | O_CLOEXEC)
            guard peerFD >= 0 else { throw NetnsError("open network namespace '\(peerNetns)' for veth \(name)") }
            defer { close(peerFD) }
            try socket.createVeth(name, peer: peer, peerNetnsFD: peerFD, master: master)
            try socket.setLink(name, alias: alias)
        case .up(let device):
            try socket.setLink(device, up: true)
        case .address(let device, let cidr):
            try socket.addAddress(cidr, device: device)
        case .route(let destination, let gateway, let device):
            try socket.addRoute(destination, gateway: gateway, device: device)
        }
    }
}
