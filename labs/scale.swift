import MeshLab

/// `pods` bare pods spread over two nodes: what `meshlab bench up` brings up and down.
public func scaleLab(pods: Int) -> LabSpec {
    Lab("scale-\(pods)", settings: LabSettings(nodePodPrefix: 22)) {
        Node("node-a")
        Node("node-b")
        Namespace("bench") {
            for index in 0..<pods {
                Pod("pod-\(index)")
            }
        }
    }
}
