import Dataplane
import Glibc
import MeshLab
import Netns

/// Applies a Plan's kernel phases through Netns, one `KernelOp` at a time, exactly as the plan lists
/// them. Each phase's entries for different netns run in parallel on dedicated threads; a netns's
/// own operations, and the phases, run in order.
package enum PlanApplier {
    package static func createNamespaces(_ plan: Plan) throws {
        let marker = plan.marker
        _ = try DedicatedThread.parallel(plan.namespaces) { setup in
            try NetworkNamespace.create(setup.name) {
                try RouteSocket().setLink("lo", up: true, alias: marker)
                for sysctl in setup.sysctls { try SysctlWriter.write(sysctl.key, sysctl.value) }
            }
        }
    }

    package static func createLinks(_ plan: Plan) throws { try run(plan.links) }

    package static func assignAddresses(_ plan: Plan) throws { try run(plan.addressing) }

    /// The redirection mode's devices, rule sets, marks and routes.
    package static func redirect(_ plan: Plan) throws { try run(plan.redirection) }

    /// eBPF mode: each node's redirector attaches its programs and records its pods, as the plan lists.
    package static func callRedirectors(_ plan: Plan) throws {
        for call in plan.redirectorCalls {
            let request = RedirectorRequest(
                attach: call.attach.map { Attachment(program: $0.program, netns: $0.netns, device: $0.device, ingress: $0.ingress) },
                enroll: call.enroll.map { Enrollment(ip: $0.ip, hostVeth: $0.hostVeth, netns: $0.netns) })
            do {
                _ = try RedirectorControl.request(request, at: Naming.redirectorSocket(lab: plan.lab, node: call.node))
            } catch {
                let log = StateDirectory(lab: plan.lab).log(for: Naming.redirectorProcess(node: call.node)).path
                throw MeshLabError("the redirector of node \(call.node) could not attach its eBPF programs: \(error)",
                                   hint: "its log is \(log); `meshlab doctor` shows whether this kernel has tc clsact and BPF")
            }
        }
    }

    /// Runs each netns's operations from a thread inside it, netns in parallel; entries for the same
    /// netns run one after another, in the order listed.
    private static func run(_ entries: [NetnsOps]) throws {
        var byNetns: [(netns: String, ops: [KernelOp])] = []
        var position: [String: Int] = [:]
        for entry in entries {
            if let index = position[entry.netns] {
                byNetns[index].ops += entry.ops
            } else {
                position[entry.netns] = byNetns.count
                byNetns.append((entry.netns, entry.ops))
            }
        }
        _ = try DedicatedThread.parallel(byNetns) { entry in
            let netns = entry.netns
            try NetworkNamespace.within(netns) {
                let socket = try RouteSocket()
                for op in entry.ops {
                    do {
                        try apply(op, socket)
                    } catch {
                        throw NetnsError("in netns \(netns): \(error)")
                    }
                }
            }
        }
    }

    private static func apply(_ op: KernelOp, _ socket: RouteSocket) throws {
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
        case .tap(let name, let alias, let mtu):
            close(try TapDevice.open(name))
            try socket.setLink(name, up: true, mtu: mtu, alias: alias)
        case .up(let device):
            try socket.setLink(device, up: true)
        case .address(let device, let cidr):
            try socket.addAddress(cidr, device: device)
        case .route(let destination, let gateway, let device, let table):
            if let table {
                try socket.addRoute(destination, gateway: gateway, device: device, table: table)
            } else {
                try socket.addRoute(destination, gateway: gateway, device: device)
            }
        case .localDelivery(let table):
            try socket.addRoute(nil, device: "lo", table: table, local: true)
        case .rule(let priority, let fwmark, let mask, let table):
            try socket.addRule(priority: priority, fwmark: fwmark, mask: mask, table: table)
        case .sysctl(let key, let value):
            try SysctlWriter.write(key, value)
        case .ipsetCreate(let name, let type):
            try command("ipset", ["create", name, type])
        case .ipsetAdd(let name, let entries):
            try command("ipset", ["restore"], input: entries.map { "add \(name) \($0) -exist\n" }.joined())
        case .iptablesRestore(let rules):
            try command("iptables-restore", ["--noflush"], input: rules)
        }
    }

    private static func command(_ tool: String, _ arguments: [String], input: String = "") throws {
        let result = try NetnsCommand.runHere(tool, arguments, input: input)
        guard result.status == 0 else { throw NetnsError("\(tool) \(arguments.joined(separator: " ")) failed: \(result.output)") }
    }
}
