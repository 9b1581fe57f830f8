/// One thing wrong with a lab: what, where in the lab file, and what to do about it.
public struct LabError: Error, Hashable, Sendable, CustomStringConvertible {
    public var at: SourceLocation?
    public var message: String
    public var hint: String?

    public init(at: SourceLocation?, _ message: String, hint: String? = nil) {
        self.at = at
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let place = at.map { "\($0): " } ?? ""
        let advice = hint.map { "\n    hint: \($0)" } ?? ""
        return "\(place)error: \(message)\(advice)"
    }
}

/// Everything wrong with a lab at once, so one edit can fix them all.
public struct LabErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [LabError]

    public init(_ errors: [LabError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
