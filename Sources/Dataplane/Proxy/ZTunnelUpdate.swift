/// What the control plane (MeshLab's orchestrator, here istiod's stand-in) pushes to a ztunnel:
/// the mesh config, the mesh root, and certificates for the identities of its node's workloads.
public struct ZTunnelUpdate: Codable, Sendable {
    public var config: MeshConfig
    public var rootPEM: String
    public var certificates: [WorkloadCertificate]

    public init(config: MeshConfig, rootPEM: String, certificates: [WorkloadCertificate]) {
        self.config = config
        self.rootPEM = rootPEM
        self.certificates = certificates
    }
}

/// What `/config_dump` and `meshlab ztunnel-config` show.
public struct ZTunnelDump: Codable, Sendable {
    public var node: String
    public var config: MeshConfig?
    public var identities: [String]
    public var capturedWorkloads: [String]
    public var openConnections: Int
    /// HBONE connections in the outbound pool (each carries up to 100 tunnels).
    public var pooledConnections: Int
}
