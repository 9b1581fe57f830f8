import Foundation
import NIOHPACK

/// What a CONNECT on 15008 asks for: the authority `ip:port` (a pod, or at a waypoint a service VIP
/// or workload), and the caller ztunnel names in `forwarded`.
struct ConnectRequest {
    struct Malformed: Error {
        var reason: String
    }

    var authority: String
    var ip: String
    var port: Int
    /// `for=` of the Forwarded header: the original client's `ip:port` when a ztunnel sent the CONNECT.
    var forwardedFor: String?

    init(_ headers: HPACKHeaders) throws {
        authority = headers.first(name: ":authority") ?? ""
        forwardedFor = headers.first(name: "forwarded").flatMap(Self.forwardedFor)
        guard headers.first(name: ":method") == "CONNECT" else { throw Malformed(reason: "not a CONNECT request") }
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw Malformed(reason: "malformed authority '\(authority)'") }
        ip = String(parts[0])
        self.port = port
    }

    static func forwardedFor(_ value: String) -> String? {
        guard let range = value.range(of: "for=") else { return nil }
        return String(value[range.upperBound...].prefix { $0 != ";" && $0 != "," }).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}
