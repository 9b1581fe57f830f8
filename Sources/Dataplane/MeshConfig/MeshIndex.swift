/// A pushed config indexed for the lookups every connection makes (by address, uid and VIP),
/// built once per push instead of scanning the config per connection.
struct MeshIndex {
    let config: MeshConfig
    private let byAddress: [String: Workload]
    private let byUID: [String: Workload]
    private let byVIP: [String: MeshService]
    private let byHostname: [String: MeshService]
    private let routeByService: [String: ServiceRoute]

    init(_ config: MeshConfig) {
        self.config = config
        byAddress = Dictionary(config.workloads.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        byUID = Dictionary(config.workloads.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        byVIP = Dictionary(config.services.flatMap { service in service.vips.map { ($0, service) } }, uniquingKeysWith: { first, _ in first })
        byHostname = Dictionary(config.services.map { ($0.hostname, $0) }, uniquingKeysWith: { first, _ in first })
        routeByService = Dictionary(config.routes.map { ($0.service, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func workload(at address: String) -> Workload? { byAddress[address] }
    func workload(uid: String) -> Workload? { byUID[uid] }
    func service(vip: String) -> MeshService? { byVIP[vip] }
    func service(hostname: String) -> MeshService? { byHostname[hostname] }
    /// The HTTPRoute bound to a service (by hostname).
    func route(for service: String) -> ServiceRoute? { routeByService[service] }
}
