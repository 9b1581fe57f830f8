import Dataplane
import MeshLab

/// Compiles a lab's topology into the mesh config ztunnels receive (what istiod derives from
/// pods, namespaces and services).
package enum MeshConfigCompiler {
    package static func compile(_ topology: Topology, version: Int) -> MeshConfig {
        let workloads = topology.pods.map { pod in
            Workload(uid: pod.id, name: pod.name, namespace: pod.namespace, serviceAccount: pod.serviceAccount, node: pod.node,
                     address: pod.ip.description, tunnel: pod.mode == .ambient ? .hbone : .none, netns: pod.netns, labels: pod.labels,
                     waypoint: pod.waypoint, sidecar: pod.mode == .sidecar, proxyProtocolPort: pod.waypointProxyPort)
        }
        let services = topology.services.map { service in
            MeshService(name: service.name, namespace: service.namespace, hostname: service.hostname, vips: [service.vip.description],
                        ports: service.ports.map { .init(port: $0.port, targetPort: $0.targetPort) }, endpoints: service.endpoints,
                        waypoint: service.waypoint)
        }
        return MeshConfig(version: version, trustDomain: topology.settings.trustDomain, workloads: workloads, services: services,
                          policies: topology.policies.map(authorization),
                          routes: topology.routes.map { resolved in
                              ServiceRoute(name: "\(resolved.namespace)/\(resolved.route.name)", namespace: resolved.namespace,
                                           service: "\(resolved.route.service).\(resolved.namespace).svc.cluster.local",
                                           rules: resolved.route.rules.map(rule))
                          })
    }

    /// The waypoint form of an HTTPRoute rule: what it does, without where the lab file says it, so
    /// a rule that only moved keeps its weighted picks and fault counts across a push.
    package static func rule(_ rule: RouteRule) -> HTTPRouteRule {
        let matches = rule.matches.map { match in
            HTTPRouteMatch(path: match.path.map(path), method: match.method, headers: match.headers.map { header in
                switch header {
                case .exact(let name, let value): HTTPHeaderMatch(.exact, name: name, value: value)
                case .regex(let name, let pattern): HTTPHeaderMatch(.regularExpression, name: name, value: pattern)
                }
            })
        }
        let fault = rule.fault.map { fault in
            HTTPFaultInjection(delay: fault.delayMilliseconds.map { .init(fixedDelayMilliseconds: $0, percentage: fault.delayPercent) },
                               abort: fault.abortStatus.map { .init(httpStatus: $0, percentage: fault.abortPercent) })
        }
        return HTTPRouteRule(matches: matches, backendRefs: rule.backends.map { HTTPBackendRef(name: $0.service, port: $0.port, weight: $0.weight) },
                             fault: fault, timeoutMilliseconds: rule.timeoutMilliseconds, retries: rule.retries)
    }

    private static func path(_ path: PathMatch) -> HTTPPathMatch {
        switch path {
        case .exact(let value): HTTPPathMatch(.exact, value)
        case .prefix(let value): HTTPPathMatch(.pathPrefix, value)
        case .regex(let value): HTTPPathMatch(.regularExpression, value)
        }
    }

    /// The ztunnel form of a policy: each rule's sources become one clause and its operations another.
    package static func authorization(_ resolved: Topology.PolicyInfo) -> Authorization {
        let policy = resolved.policy
        let scope: Authorization.Scope = policy.selector != nil ? .workloadSelector : resolved.namespace == rootNamespace ? .global : .namespace
        let rules = policy.rules.map { rule in
            var clauses: [Authorization.Clause] = []
            if !rule.from.isEmpty {
                clauses.append(.init(rule.from.map { source in
                    var match = Authorization.Match()
                    match.principals = source.principals
                    match.notPrincipals = source.notPrincipals
                    match.namespaces = source.namespaces
                    match.notNamespaces = source.notNamespaces
                    match.sourceIPs = source.ipBlocks
                    match.notSourceIPs = source.notIpBlocks
                    return match
                }))
            }
            if !rule.to.isEmpty {
                clauses.append(.init(rule.to.map { operation in
                    var match = Authorization.Match()
                    match.destinationPorts = operation.ports
                    match.notDestinationPorts = operation.notPorts
                    (match.methods, match.notMethods) = (operation.methods, operation.notMethods)
                    (match.paths, match.notPaths) = (operation.paths, operation.notPaths)
                    return match
                }))
            }
            return Authorization.Rule(clauses)
        }
        return Authorization(name: policy.name, namespace: resolved.namespace, scope: scope, workloads: resolved.selectedPods,
                             action: policy.action == .allow ? .allow : .deny, dryRun: policy.dryRun, rules: rules,
                             waypoint: policy.waypoint.map { "\(resolved.namespace)/\($0)" })
    }

    /// Policies here apply mesh-wide, as in Istio's root namespace.
    package static let rootNamespace = "istio-system"
}
