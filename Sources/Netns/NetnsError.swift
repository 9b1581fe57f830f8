import Glibc

/// A kernel operation that failed, said in terms a user can act on.
public struct NetnsError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) { self.message = message }

    /// `what` failed with the current errno.
    public static func errno(_ what: String, _ code: Int32 = Glibc.errno) -> NetnsError {
        NetnsError("\(what): \(String(cString: strerror(code)))")
    }

    public var description: String { message }
}
