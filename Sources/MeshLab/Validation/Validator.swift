/// Checks a LabSpec before anything touches the kernel. Returns every problem found.
public func validate(_ lab: LabSpec) -> [LabError] {
    var validator = Validator(lab: lab)
    validator.run()
    return validator.errors
}

/// Ports the mesh itself listens on inside pods and nodes; an app may not take them.
public let meshReservedPorts: [Int: String] = [
    15000: "ztunnel admin", 15001: "ztunnel outbound capture", 15006: "ztunnel inbound plaintext",
    15008: "HBONE", 15020: "ztunnel metrics", 15021: "ztunnel readiness", 15053: "ztunnel DNS",
]

struct Validator {
    let lab: LabSpec
    var errors: [LabError] = []
    /// Capacity checks need a usable pod block size; a bad one is reported once, by itself.
    var podBlocksValid = false

    mutating func fail(_ at: SourceLocation?, _ message: String, hint: String? = nil) {
        errors.append(LabError(at: at, message, hint: hint))
    }

    mutating func run() {
        if lab.apiVersion != LabSpec.currentVersion {
            fail(lab.at, "lab document version '\(lab.apiVersion)' is not '\(LabSpec.currentVersion)'",
                 hint: "rebuild the lab file with this MeshLab")
        }
        checkName(lab.name, "lab", at: lab.at, maxLength: 32)
        checkSettings()
        checkNodes()
        checkNamespaces()
        checkNetnsNamesAreDistinct()
        checkChecks()
    }

    mutating func checkChecks() {
        checkDeclaredOnce(lab.checks.map { ($0.name, $0.at) }, "check")
        let pods = Set(lab.namespaces.flatMap { namespace in namespace.pods.map { "\(namespace.name)/\($0.name)" } })
        let services = Set(lab.namespaces.flatMap { namespace in namespace.services.map { "\(namespace.name)/\($0.name)" } })
        for check in lab.checks {
            if !pods.contains(check.from) {
                fail(check.at, "check '\(check.name)' calls from unknown pod '\(check.from)'", hint: "write it as namespace/pod; pods: \(pods.sorted().joined(separator: ", "))")
            }
            switch check.to {
            case .pod(let pod, _) where !pods.contains(pod):
                fail(check.at, "check '\(check.name)' calls unknown pod '\(pod)'", hint: "write it as namespace/pod")
            case .service(let service, _) where !services.contains(service):
                fail(check.at, "check '\(check.name)' calls unknown service '\(service)'", hint: "write it as namespace/service")
            case .address(let address, _) where IPv4(address) == nil:
                fail(check.at, "check '\(check.name)' calls '\(address)', which is not an IPv4 address", hint: "use .pod or .service for names")
            default: break
            }
            if check.count < 1 { fail(check.at, "check '\(check.name)' makes no calls", hint: "count: 1 or more") }
            if check.expect.isEmpty { fail(check.at, "check '\(check.name)' expects nothing, so it cannot fail", hint: "add expectations, e.g. expect: [.ok]") }
            if let change = check.during { checkChange(change, of: check) }
            let links = ["underlay"] + lab.nodes.map(\.name) + pods.sorted()
            for link in check.expect.flatMap(\.links) where !links.contains(link) {
                fail(check.at, "check '\(check.name)' watches unknown link '\(link)'", hint: "name `underlay`, a node or a pod (namespace/pod)")
            }
        }
    }

    mutating func checkChange(_ change: Change, of check: Check) {
        if check.protocol != .tcp {
            fail(check.at, "check '\(check.name)' holds connections across a change, which needs raw TCP", hint: "add protocol: .tcp")
        }
        switch change {
        case .ztunnelRestart(let node) where !lab.nodes.contains(where: { $0.name == node }):
            fail(check.at, "check '\(check.name)' restarts the ztunnel of unknown node '\(node)'",
                 hint: "nodes: \(lab.nodes.map(\.name).joined(separator: ", "))")
        case .addPolicy(let namespace, _) where !lab.namespaces.contains(where: { $0.name == namespace }):
            fail(check.at, "check '\(check.name)' adds a policy to unknown namespace '\(namespace)'", hint: "declare the namespace first")
        case .removePolicy(let policy) where !lab.namespaces.contains(where: { namespace in
            namespace.policies.contains { "\(namespace.name)/\($0.name)" == policy } }):
            fail(check.at, "check '\(check.name)' removes unknown policy '\(policy)'", hint: "write it as namespace/name")
        default: break
        }
    }

    mutating func checkName(_ name: String, _ kind: String, at: SourceLocation, maxLength: Int = 63) {
        if !isDNSLabel(name) {
            fail(at, "\(kind) name '\(name)' is not a DNS label",
                 hint: "use lower-case letters, digits and '-', starting and ending with a letter or digit")
        } else if name.count > maxLength {
            fail(at, "\(kind) name '\(name)' is longer than \(maxLength) characters", hint: "shorten it")
        }
    }

    /// Reports each name declared more than once, at its later declarations.
    mutating func checkDeclaredOnce(_ declarations: [(name: String, at: SourceLocation)], _ kind: String, hint: String = "rename one of them") {
        var seen: [String: SourceLocation] = [:]
        for declaration in declarations {
            if let first = seen[declaration.name] {
                fail(declaration.at, "\(kind) '\(declaration.name)' is declared twice (first at \(first))", hint: hint)
            } else {
                seen[declaration.name] = declaration.at
            }
        }
    }

    mutating func checkSettings() {
        let settings = lab.settings
        let named: [(String, String)] = [
            ("podCIDR", settings.podCIDR), ("serviceCIDR", settings.serviceCIDR), ("underlayCIDR", settings.underlayCIDR),
        ]
        var parsed: [(String, CIDR)] = []
        for (key, text) in named {
            guard let cidr = CIDR(text) else {
                fail(lab.at, "\(key) '\(text)' is not an IPv4 CIDR", hint: "write it like 10.244.0.0/16")
                continue
            }
            for (otherKey, other) in parsed where other.overlaps(cidr) {
                fail(lab.at, "\(key) \(cidr) overlaps \(otherKey) \(other)", hint: "give each range its own addresses")
            }
            parsed.append((key, cidr))
        }
        if let pods = CIDR(settings.podCIDR) {
            podBlocksValid = (pods.prefix...30).contains(settings.nodePodPrefix)
        }
        if let pods = CIDR(settings.podCIDR), !podBlocksValid {
            fail(lab.at, "nodePodPrefix /\(settings.nodePodPrefix) does not fit in podCIDR \(pods)",
                 hint: "use a prefix between /\(pods.prefix) and /30")
        }
        if settings.trustDomain.isEmpty || settings.trustDomain.contains(where: { $0 == "/" || $0 == " " }) {
            fail(lab.at, "trust domain '\(settings.trustDomain)' is not a SPIFFE trust domain", hint: "use a name like cluster.local")
        }
    }

    mutating func checkNodes() {
        if lab.nodes.isEmpty {
            fail(lab.at, "lab '\(lab.name)' has no nodes", hint: "add Node(\"node-a\") to the lab body")
        }
        for node in lab.nodes { checkName(node.name, "node", at: node.at) }
        checkDeclaredOnce(lab.nodes.map { ($0.name, $0.at) }, "node")
        if let underlay = CIDR(lab.settings.underlayCIDR), UInt64(lab.nodes.count) + 2 > underlay.size {
            fail(lab.at, "underlayCIDR \(underlay) has no room for \(lab.nodes.count) nodes", hint: "use a larger underlayCIDR")
        }
        if podBlocksValid, !lab.nodes.isEmpty, let pods = CIDR(lab.settings.podCIDR),
           pods.subnet(lab.nodes.count - 1, length: lab.settings.nodePodPrefix) == nil {
            fail(lab.at, "podCIDR \(pods) has no room for \(lab.nodes.count) node blocks of /\(lab.settings.nodePodPrefix)",
                 hint: "use a larger podCIDR or a longer nodePodPrefix")
        }
    }

    mutating func checkNamespaces() {
        let nodeNames = Set(lab.nodes.map(\.name))
        var podsPerNode: [String: Int] = [:]
        for (index, pod) in lab.namespaces.flatMap(\.pods).enumerated() {
            let node = pod.node ?? (lab.nodes.isEmpty ? "" : lab.nodes[index % lab.nodes.count].name)
            podsPerNode[node, default: 0] += 1
        }
        // Network, gateway, ztunnel and broadcast addresses are not for pods.
        let capacity = (1 << (32 - lab.settings.nodePodPrefix)) - 4
        for (node, count) in podsPerNode.sorted(by: { $0.key < $1.key }) where podBlocksValid && count > capacity && nodeNames.contains(node) {
            fail(lab.at, "node '\(node)' has \(count) pods but its /\(lab.settings.nodePodPrefix) pod block holds \(capacity)",
                 hint: "use a shorter nodePodPrefix (e.g. nodePodPrefix: 22) or spread pods over more nodes")
        }
        checkDeclaredOnce(lab.namespaces.map { ($0.name, $0.at) }, "namespace", hint: "put its pods and services in one Namespace block")
        for namespace in lab.namespaces {
            checkName(namespace.name, "namespace", at: namespace.at)
            checkPods(in: namespace, nodes: nodeNames)
            checkServices(in: namespace)
            checkPolicies(in: namespace)
            checkWaypoints(in: namespace)
            checkRoutes(in: namespace)
        }
        if let vips = CIDR(lab.settings.serviceCIDR) {
            let services = lab.namespaces.reduce(0) { $0 + $1.services.count }
            if UInt64(services) + 2 > vips.size {
                fail(lab.at, "serviceCIDR \(vips) has no room for \(services) services", hint: "use a larger serviceCIDR")
            }
        }
    }

    mutating func checkPods(in namespace: Namespace, nodes: Set<String>) {
        checkDeclaredOnce(namespace.pods.map { ("\(namespace.name)/\($0.name)", $0.at) }, "pod")
        for pod in namespace.pods {
            checkName(pod.name, "pod", at: pod.at)
            checkName(pod.serviceAccount, "service account", at: pod.at)
            if let node = pod.node, !nodes.contains(node) {
                fail(pod.at, "pod '\(namespace.name)/\(pod.name)' runs on unknown node '\(node)'",
                     hint: "declare Node(\"\(node)\") or use one of: \(nodes.sorted().joined(separator: ", "))")
            }
            var ports = Set<Int>()
            for port in pod.app.ports {
                if !(1...65535).contains(port) {
                    fail(pod.at, "pod '\(namespace.name)/\(pod.name)' port \(port) is not a TCP port", hint: "use 1–65535")
                } else if let owner = meshReservedPorts[port] {
                    fail(pod.at, "pod '\(namespace.name)/\(pod.name)' port \(port) is the mesh's \(owner) port",
                         hint: "serve the app on another port, e.g. 8000")
                }
                if !ports.insert(port).inserted {
                    fail(pod.at, "pod '\(namespace.name)/\(pod.name)' lists port \(port) twice", hint: "list each port once")
                }
            }
        }
    }

    mutating func checkServices(in namespace: Namespace) {
        checkDeclaredOnce(namespace.services.map { ("\(namespace.name)/\($0.name)", $0.at) }, "service")
        for service in namespace.services {
            checkName(service.name, "service", at: service.at)
            if service.ports.isEmpty {
                fail(service.at, "service '\(namespace.name)/\(service.name)' has no ports", hint: "add ports: [.port(80, target: 8000)]")
            }
            let selected = namespace.pods.filter { pod in service.selector.allSatisfy { pod.labels[$0.key] == $0.value } }
            if selected.isEmpty {
                let selector = service.selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                fail(service.at, "service '\(namespace.name)/\(service.name)' selects no pod (selector \(selector))",
                     hint: "label a pod in namespace '\(namespace.name)' with it, or fix the selector")
                continue
            }
            for port in service.ports {
                if !(1...65535).contains(port.port) || !(1...65535).contains(port.targetPort) {
                    fail(service.at, "service '\(namespace.name)/\(service.name)' port \(port.port)→\(port.targetPort) is not a TCP port",
                         hint: "use 1–65535")
                } else if !selected.contains(where: { $0.app.ports.contains(port.targetPort) }) {
                    fail(service.at, "no pod selected by service '\(namespace.name)/\(service.name)' listens on target port \(port.targetPort)",
                         hint: "add \(port.targetPort) to a selected pod's echo ports or change targetPort")
                }
            }
        }
    }

    mutating func checkPolicies(in namespace: Namespace) {
        checkDeclaredOnce(namespace.policies.map { ("\(namespace.name)/\($0.name)", $0.at) }, "authorization policy")
        let waypoints = namespace.pods.filter { $0.app == .waypoint }.map(\.name)
        if let waypoint = namespace.waypoint, !waypoints.contains(waypoint) {
            fail(namespace.at, "namespace '\(namespace.name)' uses waypoint '\(waypoint)', which it does not declare",
                 hint: "add Waypoint(\"\(waypoint)\") inside the namespace")
        }
        for policy in namespace.policies {
            checkName(policy.name, "authorization policy", at: policy.at)
            if let waypoint = policy.waypoint, !waypoints.contains(waypoint) {
                fail(policy.at, "authorization policy '\(namespace.name)/\(policy.name)' targets waypoint '\(waypoint)', which the namespace does not declare",
                     hint: "declare Waypoint(\"\(waypoint)\") in '\(namespace.name)'")
            }
            // Sidecars see HTTP themselves; in an ambient namespace only a waypoint does.
            if policy.waypoint == nil && namespace.mode != .sidecar && policy.rules.contains(where: { $0.to.contains(where: \.isL7) }) {
                fail(policy.at, "authorization policy '\(namespace.name)/\(policy.name)' matches HTTP methods or paths, which only a waypoint or a sidecar can see",
                     hint: "add waypoint: \"<name>\" to the policy (and a Waypoint to the namespace), or use a .sidecar namespace")
            }
            if let selector = policy.selector, !namespace.pods.contains(where: { pod in selector.allSatisfy { pod.labels[$0.key] == $0.value } }) {
                fail(policy.at, "authorization policy '\(namespace.name)/\(policy.name)' selects no pod",
                     hint: "fix the selector, or drop it to apply the policy to the whole namespace")
            }
            for rule in policy.rules {
                for block in rule.from.flatMap({ $0.ipBlocks + $0.notIpBlocks }) where CIDR(block) == nil && IPv4(block) == nil {
                    fail(policy.at, "ipBlock '\(block)' in '\(namespace.name)/\(policy.name)' is not an IPv4 address or CIDR",
                         hint: "write it like 10.244.0.0/16")
                }
                for port in rule.to.flatMap({ $0.ports + $0.notPorts }) where !(1...65535).contains(port) {
                    fail(policy.at, "port \(port) in '\(namespace.name)/\(policy.name)' is not a TCP port", hint: "use 1–65535")
                }
            }
        }
    }

    /// Netns names are `<lab>-<node>` and `<lab>-<namespace>-<pod>`: two things must not land on one name.
    mutating func checkNetnsNamesAreDistinct() {
        var owners: [String: String] = [Naming.underlaySuffix: "the lab underlay"]
        func claim(_ suffix: String, _ owner: String, at: SourceLocation) {
            if let other = owners[suffix], other != owner {  // the same name twice is reported as a duplicate
                fail(at, "\(owner) and \(other) would share the network namespace '\(lab.name)-\(suffix)'",
                     hint: "rename one of them")
            } else {
                owners[suffix] = owner
            }
        }
        for node in lab.nodes {
            claim(node.name, "node '\(node.name)'", at: node.at)
            claim("ztunnel-\(node.name)", "the ztunnel of node '\(node.name)'", at: node.at)
        }
        for namespace in lab.namespaces {
            for pod in namespace.pods { claim("\(namespace.name)-\(pod.name)", "pod '\(namespace.name)/\(pod.name)'", at: pod.at) }
        }
    }
}

func isDNSLabel(_ name: String) -> Bool {
    guard let first = name.first, let last = name.last else { return false }
    let allowed = { (c: Character) in c.isASCII && (c.isLowercase || c.isNumber || c == "-") }
    return name.allSatisfy(allowed) && first != "-" && last != "-"
}
