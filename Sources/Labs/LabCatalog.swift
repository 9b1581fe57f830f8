import MeshLab

/// The labs shipped with MeshLab, selectable by name (`meshlab up ambient-basic`).
public enum LabCatalog {
    public static let defaultLab = "ambient-basic"

    public static let all: [LabSpec] = [ambientBasic, l4Policy, inpodLifecycle, nodeIptablesGeneve, ebpfRedirection, waypointL7, ambientToSidecar, sidecarToAmbient, sidecarL7, waypointProxyProtocol]

    public static func lab(named name: String) -> LabSpec? { all.first { $0.name == name } }
}
