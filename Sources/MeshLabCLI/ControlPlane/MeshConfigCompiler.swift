import Dataplane
import MeshLab

/// Compiles a lab's topology into the mesh config ztunnels receive (what istiod derives from
/// pods, namespaces and services).
enum MeshConfigCompiler {
    static func compile(_ topology: Topology, version: Int) -> MeshConfig {
        let workloads = topology.pods.map { pod in
            Workload(uid: pod.id, name: pod.name, namespace: pod.namespace, serviceAccount: pod.serviceAccount, node: pod.node,
                     address: pod.ip.description, tunnel: pod.mode == .ambient ? .hbone : .none, netns: pod.netns, labels: pod.labels)
        }
        let services = topology.services.map { service in
            MeshService(name: service.name, namespace: service.namespace, hostname: service.hostname, vips: [service.vip.description],
                        ports: service.ports.map { .init(port: $0.port, targetPort: $0.targetPort) }, endpoints: service.endpoints)
        }
        return MeshConfig(version: version, trustDomain: topology.settings.trustDomain, workloads: workloads, services: services, policies: [])
    }
}
