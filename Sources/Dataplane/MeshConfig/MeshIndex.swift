/// A pushed config indexed for the lookups every connection makes (by address, uid and VIP),
/// built once per push instead of scanning the config per connection.
struct MeshIndex {
    let config: MeshConfig
    private let byAddress: [String: Workload]
    private let byUID: [String: Workload]
    private let byVIP: [String: MeshService]

    init(_ config: MeshConfig) {
        self.config = config
        byAddress = Dictionary(config.workloads.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        byUID = Dictionary(config.workloads.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        byVIP = Dictionary(config.services.flatMap { service in service.vips.map { ($0, service) } }, uniquingKeysWith: { first, _ in first })
    }

    func workload(at address: String) -> Workload? { byAddress[address] }
    func workload(uid: String) -> Workload? { byUID[uid] }
    func service(vip: String) -> MeshService? { byVIP[vip] }
}
