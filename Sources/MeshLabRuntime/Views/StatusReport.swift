import Assertions
import Foundation
import MeshLab

/// A lab as `up` and `status` show it: nodes, pods, services, and where each lives.
package struct StatusReport: Encodable {
    package var topology: Topology
    package var state: LabState?

    package init(topology: Topology, state: LabState? = nil) {
        self.topology = topology
        self.state = state
    }

    package func tables() -> String {
        var sections = [
            Table(["NODE", "NETNS", "UNDERLAY IP", "POD CIDR"], topology.nodes.map {
                [$0.name, $0.netns, $0.underlayIP.description, $0.podCIDR.description]
            }).render(),
            Table(["NAMESPACE", "POD", "MODE", "NODE", "IP", "APP", "NETNS"], topology.pods.map {
                [$0.namespace, $0.name, $0.mode.rawValue, $0.node, $0.ip.description, Self.describe($0.app), $0.netns]
            }).render(),
        ]
        if !topology.services.isEmpty {
            sections.append(Table(["SERVICE", "VIP", "PORTS", "ENDPOINTS"], topology.services.map {
                ["\($0.namespace)/\($0.name)", $0.vip.description,
                 $0.ports.map { "\($0.port)→\($0.targetPort)" }.joined(separator: ","), $0.endpoints.joined(separator: ",")]
            }).render())
        }
        if let state, !state.processes.isEmpty {
            sections.append(Table(["PROCESS", "PID", "NETNS"], state.processes.map { [$0.name, String($0.pid), $0.netns] }).render())
        }
        return sections.joined(separator: "\n\n")
    }

    /// Commands worth trying next, with real names and addresses from this lab.
    package func suggestions() -> String {
        let clients = topology.pods.filter { $0.app == .client }
        let servers = topology.pods.filter { !$0.app.ports.isEmpty }
        guard let client = clients.first, let server = servers.last ?? servers.first else {
            return "\ntry:  meshlab exec \(topology.pods.first?.id ?? topology.nodes[0].name) -- ip addr\n      meshlab down \(topology.lab)"
        }
        return """

            try:  meshlab exec \(client.id) -- meshlab client http://\(server.ip):\(server.app.ports[0]) -n 3
                  meshlab exec \(topology.nodes[0].name) -- ip route
                  meshlab down \(topology.lab)
            """
    }

    package func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    package static func describe(_ app: App) -> String {
        switch app {
        case .none: "-"
        case .client: "client"
        case .echo(let ports): "echo:" + ports.map(String.init).joined(separator: ",")
        case .waypoint: "waypoint"
        }
    }
}
