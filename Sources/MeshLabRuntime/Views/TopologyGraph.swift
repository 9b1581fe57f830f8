import MeshLab

/// A lab as a picture: nodes as clusters holding their pods (grouped by namespace and mode) and
/// ztunnel, the underlay between nodes, HBONE between ztunnels, and services pointing at endpoints.
package struct TopologyGraph {
    package let topology: Topology

    package init(topology: Topology) { self.topology = topology }

    /// How ambient pods reach their node's ztunnel, as the ztunnel's caption.
    package var redirection: String {
        switch topology.settings.redirect {
        case .inpod: "in-pod REDIRECT"
        case .inpodTproxy: "in-pod TPROXY"
        case .iptables: "node iptables, Geneve istioin 1000 / istioout 1001"
        case .ebpf: "eBPF on tc"
        }
    }

    /// Graphviz DOT (`meshlab graph | dot -Tsvg`).
    package func dot() -> String {
        var lines = ["digraph \"\(topology.lab)\" {", "  compound=true; rankdir=LR; node [shape=box, fontname=\"Helvetica\"];"]
        lines.append("  underlay [label=\"underlay \(topology.underlay.bridge)\\n\(topology.underlay.cidr)\", shape=ellipse];")
        for node in topology.nodes {
            lines.append("  subgraph \"cluster_\(node.name)\" {")
            lines.append("    label=\"\(node.name) \(node.underlayIP)\";")
            if let ztunnel = topology.ztunnels.first(where: { $0.node == node.name }) {
                lines.append("    \"\(id(ztunnel: node.name))\" [label=\"ztunnel\\n\(ztunnel.ip)\\n\(redirection)\", shape=hexagon];")
            }
            for (namespace, pods) in podsByNamespace(on: node.name) {
                lines.append("    subgraph \"cluster_\(node.name)_\(namespace.name)\" {")
                lines.append("      label=\"\(namespace.name) (\(namespace.mode.rawValue))\"; style=dashed;")
                for pod in pods { lines.append("      \"\(id(pod))\" [label=\"\(pod.name)\\n\(pod.ip)\"];") }
                lines.append("    }")
            }
            lines.append("  }")
            lines.append("  \"\(anchor(node.name))\" -> underlay [dir=none, ltail=\"cluster_\(node.name)\"];")
        }
        for pair in ztunnelPairs() {
            lines.append("  \"\(id(ztunnel: pair.0))\" -> \"\(id(ztunnel: pair.1))\" [label=\"HBONE :15008\", style=dashed, dir=both];")
        }
        for service in topology.services {
            lines.append("  \"svc:\(service.namespace)/\(service.name)\" [label=\"\(service.namespace)/\(service.name)\\n\(service.vip)\", shape=oval];")
            for endpoint in service.endpoints { lines.append("  \"svc:\(service.namespace)/\(service.name)\" -> \"pod:\(endpoint)\";") }
        }
        lines.append("}")
        return lines.joined(separator: "\n")
    }

    /// Mermaid flowchart (renders in GitHub markdown).
    package func mermaid() -> String {
        var lines = ["flowchart LR", "  underlay((\"underlay \(topology.underlay.cidr)\"))"]
        for node in topology.nodes {
            lines.append("  subgraph \(slug(node.name))[\"\(node.name) \(node.underlayIP)\"]")
            if let ztunnel = topology.ztunnels.first(where: { $0.node == node.name }) {
                lines.append("    \(slug(id(ztunnel: node.name))){{\"ztunnel \(ztunnel.ip) · \(redirection)\"}}")
            }
            for (namespace, pods) in podsByNamespace(on: node.name) {
                lines.append("    subgraph \(slug("\(node.name)-\(namespace.name)"))[\"\(namespace.name) (\(namespace.mode.rawValue))\"]")
                for pod in pods { lines.append("      \(slug(id(pod)))[\"\(pod.name) \(pod.ip)\"]") }
                lines.append("    end")
            }
            lines.append("  end")
            lines.append("  \(slug(node.name)) --- underlay")
        }
        for pair in ztunnelPairs() {
            lines.append("  \(slug(id(ztunnel: pair.0))) <-. HBONE :15008 .-> \(slug(id(ztunnel: pair.1)))")
        }
        for service in topology.services {
            let name = slug("svc:\(service.namespace)/\(service.name)")
            lines.append("  \(name)([\"\(service.namespace)/\(service.name) \(service.vip)\"])")
            for endpoint in service.endpoints { lines.append("  \(name) --> \(slug("pod:\(endpoint)"))") }
        }
        return lines.joined(separator: "\n")
    }

    private struct NamespaceKey: Hashable {
        package var name: String
        package var mode: DataplaneMode
    }

    private func podsByNamespace(on node: String) -> [(NamespaceKey, [Topology.PodInfo])] {
        var order: [NamespaceKey] = []
        var groups: [NamespaceKey: [Topology.PodInfo]] = [:]
        for pod in topology.pods where pod.node == node {
            let key = NamespaceKey(name: pod.namespace, mode: pod.mode)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(pod)
        }
        return order.map { ($0, groups[$0]!) }
    }

    private func ztunnelPairs() -> [(String, String)] {
        let nodes = topology.ztunnels.map(\.node)
        return nodes.indices.flatMap { i in nodes.indices.filter { $0 > i }.map { (nodes[i], nodes[$0]) } }
    }

    /// Something inside a node's cluster for edges to attach to.
    private func anchor(_ node: String) -> String {
        topology.ztunnels.contains { $0.node == node } ? id(ztunnel: node) : topology.pods.first { $0.node == node }.map(id) ?? node
    }

    private func id(_ pod: Topology.PodInfo) -> String { "pod:\(pod.id)" }
    private func id(ztunnel node: String) -> String { "ztunnel:\(node)" }
    private func slug(_ text: String) -> String { String(text.map { $0.isLetter || $0.isNumber ? $0 : "_" }) }
}
