import Dataplane

/// What crossed a named link while a check's calls ran, captured to a pcap file.
public struct LinkCapture: Sendable {
    /// The link as the lab names it: `underlay`, a node, or a pod (`namespace/pod`).
    public var link: String
    public var file: String
    public var packets: [CapturedPacket]

    public init(link: String, file: String, packets: [CapturedPacket]) {
        self.link = link
        self.file = file
        self.packets = packets
    }
}

extension Evidence {
    func capture(on link: String) -> LinkCapture? { captures.first { $0.link == link } }

    /// Only HBONE crossed the link: every IPv4 packet is TCP to or from port 15008, and there was some.
    /// The kernel's own link-local control traffic (IGMP reports to 224.0.0.0/24) is not the lab's.
    public func onlyHBONE(on link: String) -> Verdict {
        guard let capture = capture(on: link) else {
            return Verdict(passed: false, expected: "only HBONE on \(link)", actual: "no capture of \(link)")
        }
        let traffic = capture.packets.filter { !$0.isLinkLocalControl }
        let hbone = traffic.filter { $0.isTCP && $0.uses(port: 15008) }
        let other = traffic.filter { !($0.isTCP && $0.uses(port: 15008)) }
        let actual = other.isEmpty ? "\(hbone.count) HBONE packet(s), nothing else"
            : "\(other.count) non-HBONE packet(s) besides \(hbone.count) HBONE: \(Set(other.map(Self.flow)).sorted().prefix(4).joined(separator: "; "))"
        return Verdict(passed: !hbone.isEmpty && other.isEmpty, expected: "only HBONE (TCP 15008) on \(link)", actual: actual,
                       evidence: ["capture: \(capture.file)"] + other.prefix(5).map(\.description))
    }

    /// The calls' canary never crossed the link in the clear.
    public func neverInPlaintext(on link: String) -> Verdict {
        guard let capture = capture(on: link), let canary else {
            return Verdict(passed: false, expected: "the payload never in plaintext on \(link)", actual: "no capture of \(link)")
        }
        let marker = Array(canary.utf8)
        let leaks = capture.packets.filter { $0.payload.contains(marker) }
        return Verdict(passed: leaks.isEmpty, expected: "the payload (\(canary)) never in plaintext on \(link)",
                       actual: leaks.isEmpty ? "not in any of \(capture.packets.count) packets"
                           : "in plaintext in \(leaks.count) of \(capture.packets.count) packets",
                       evidence: ["capture: \(capture.file)"] + leaks.prefix(5).map(\.description))
    }

    private static func flow(_ packet: CapturedPacket) -> String {
        packet.isTCP ? "tcp \(packet.source) → \(packet.destination):\(packet.destinationPort)" : packet.description
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` appears as a contiguous run.
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { start in self[start..<(start + needle.count)].elementsEqual(needle) }
    }
}
