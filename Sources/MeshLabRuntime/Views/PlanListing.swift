import MeshLab

/// A plan as `meshlab spec LAB --stage plan` prints it: every phase `up` runs, in order, each kernel
/// operation as the command that would do it by hand inside its netns, then the processes, the eBPF
/// attachments and the config pushes. `up` applies exactly this list.
package struct PlanListing {
    package let plan: Plan

    package init(plan: Plan) { self.plan = plan }

    package func text() -> String {
        var lines = ["plan for lab \(plan.lab): redirection \(plan.redirect.rawValue), every netns marked \(plan.marker) on lo", ""]
        lines.append("1. network namespaces (\(plan.namespaces.count)), each with lo up")
        for setup in plan.namespaces {
            lines.append("   ip netns add \(setup.name)")
            lines += setup.sysctls.map { "     sysctl -w \($0.key)=\($0.value)" }
        }
        section(&lines, "2. links", plan.links)
        section(&lines, "3. addresses and routes", plan.addressing)
        section(&lines, "4. redirection (\(plan.redirect.rawValue))", plan.redirection)
        lines += ["", "5. processes (\(plan.processes.count)), each `meshlab` in its netns, logging to logs/<name>.log"]
        lines += plan.processes.map { "   [\($0.netns)] \($0.name): meshlab \($0.arguments.joined(separator: " "))" }
        if !plan.redirectorCalls.isEmpty {
            lines += ["", "6. eBPF: each node's redirector attaches its programs (tc clsact) and records pods in app_info"]
            for call in plan.redirectorCalls {
                lines += call.attach.map { "   [\($0.netns)] tc filter add dev \($0.device) \($0.ingress ? "ingress" : "egress") bpf da obj ambient_redirect.o sec \($0.program)" }
                lines += call.enroll.map { "   [\(call.node)] app_info[\($0.ip)] = \($0.hostVeth), MAC of eth0 in \($0.netns)" }
            }
        }
        if !plan.ztunnelNodes.isEmpty {
            lines += ["", "7. lab CA, identities and mesh config pushed to the ztunnels of \(plan.ztunnelNodes.joined(separator: ", ")) and to every waypoint and sidecar"]
        }
        return lines.joined(separator: "\n")
    }

    private func section(_ lines: inout [String], _ title: String, _ entries: [NetnsOps]) {
        guard !entries.isEmpty else { return }
        lines += ["", title]
        for entry in entries {
            lines.append("   [\(entry.netns)]")
            lines += entry.ops.flatMap { $0.description.split(separator: "\n", omittingEmptySubsequences: false).map { "     \($0)" } }
        }
    }
}
