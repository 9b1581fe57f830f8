/// An IPv4 address as a number, so allocation is arithmetic.
public struct IPv4: Codable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        self.value = value
    }

    public var description: String {
        (0..<4).reversed().map { String(value >> ($0 * 8) & 0xff) }.joined(separator: ".")
    }

    public static func < (a: IPv4, b: IPv4) -> Bool { a.value < b.value }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPv4(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IPv4 address: \(text)"))
        }
        self = address
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An IPv4 prefix such as 10.244.0.0/16.
public struct CIDR: Codable, Hashable, Sendable, CustomStringConvertible {
    public var network: IPv4
    public var prefix: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let address = IPv4(String(parts[0])),
              let prefix = Int(parts[1]), (0...32).contains(prefix) else { return nil }
        self.init(network: address, prefix: prefix)
    }

    public init(network: IPv4, prefix: Int) {
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        self.network = IPv4(network.value & mask)
        self.prefix = prefix
    }

    public var size: UInt64 { 1 << UInt64(32 - prefix) }
    public var last: IPv4 { IPv4(network.value + UInt32(size - 1)) }
    public var description: String { "\(network)/\(prefix)" }

    /// The n-th address of the prefix (0 is the network address).
    public func host(_ n: Int) -> IPv4 { IPv4(network.value + UInt32(n)) }

    /// The n-th sub-prefix of length `length`, or nil when it does not fit.
    public func subnet(_ n: Int, length: Int) -> CIDR? {
        guard length >= prefix, length <= 32, UInt64(n) < (1 << UInt64(length - prefix)) else { return nil }
        return CIDR(network: IPv4(network.value + UInt32(n) << (32 - length)), prefix: length)
    }

    public func contains(_ address: IPv4) -> Bool { network <= address && address <= last }
    public func overlaps(_ other: CIDR) -> Bool { contains(other.network) || other.contains(network) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let cidr = CIDR(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a CIDR: \(text)"))
        }
        self = cidr
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
