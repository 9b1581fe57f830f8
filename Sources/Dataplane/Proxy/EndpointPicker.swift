/// Picks a service's next endpoint: round robin per service, deterministic, so labs can count spread.
final class EndpointPicker: @unchecked Sendable {  // used on its process's one event loop
    private var next: [String: Int] = [:]

    func pick(_ service: MeshService, in mesh: MeshIndex?) -> Workload? {
        let candidates = service.endpoints.compactMap { mesh?.workload(uid: $0) }
        guard !candidates.isEmpty else { return nil }
        let key = "\(service.namespace)/\(service.name)"
        let index = next[key, default: 0]
        next[key] = index + 1
        return candidates[index % candidates.count]
    }
}
