import MeshLab

/// The change a long-lived check makes while its connections are held open, made to the running
/// lab the way a user would (`apply`, `ztunnel-restart`), and how to put the lab back afterwards.
package struct LabChange {
    package let directory: StateDirectory

    /// Makes the change; the returned closure undoes it (nothing to undo for a restart).
    package func make(_ change: Change) throws -> () throws -> Void {
        let orchestrator = Orchestrator()
        switch change {
        case .ztunnelRestart(let node):
            try orchestrator.restartZTunnel(lab: directory.lab, node: node)
            return {}
        case .addPolicy(let namespace, let policy):
            return try edit { spec in
                spec.namespaces = spec.namespaces.map { declared in
                    var declared = declared
                    if declared.name == namespace { declared.policies.append(policy) }
                    return declared
                }
            }
        case .removePolicy(let name):
            return try edit { spec in
                spec.namespaces = spec.namespaces.map { declared in
                    var declared = declared
                    declared.policies.removeAll { "\(declared.name)/\($0.name)" == name }
                    return declared
                }
            }
        }
    }

    /// Applies an edited copy of the running lab's spec; undoing applies the original again.
    private func edit(_ change: (inout LabSpec) -> Void) throws -> () throws -> Void {
        let original = try directory.read(LabSpec.self, from: "spec.json")
        var edited = original
        change(&edited)
        // The checks describe the lab as declared (one may name the policy this change removes).
        edited.checks = []
        _ = try Orchestrator().apply(edited)
        return { _ = try Orchestrator().apply(original) }
    }
}
