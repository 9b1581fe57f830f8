/// A failure running a lab, in words a user can act on: what went wrong and what to do.
public struct MeshLabError: Error, CustomStringConvertible {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { "error: \(message)" + (hint.map { "\n    hint: \($0)" } ?? "") }
}
