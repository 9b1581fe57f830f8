/// A machine of the lab: a network namespace standing for a Kubernetes node's host network.
public struct Node: Codable, Hashable, Sendable {
    public var name: String
    public var at: SourceLocation

    public init(_ name: String, file: String = #filePath, line: Int = #line) {
        self.name = name
        self.at = SourceLocation(file: file, line: line)
    }
}
