import Foundation
import Glibc
import Netns

/// A userspace Geneve endpoint (RFC 8926) for kernels without Geneve devices: it joins TAP devices
/// in two netns (the node's `istioin`/`istioout` and ztunnel's `pistioin`/`pistioout`) through
/// real Geneve over UDP 6081, so what crosses the wire is what kernel Geneve would send.
public final class GeneveEndpoint: @unchecked Sendable {
    /// One end: the UDP socket, the peer it sends to, and the TAP device of each VNI.
    struct End {
        var name: String
        var udp: Int32
        var peer: sockaddr_in
        var taps: [UInt32: Int32]
        /// Counter keys (`node:1001`) per VNI, made once rather than per packet.
        var keys: [UInt32: String]
    }

    /// Frames and bytes per end and VNI (`node:1001`, `ztunnel:1000`), for path evidence.
    public struct Counters: Codable, Sendable {
        /// Frames an end took from its TAP device and sent as Geneve.
        public var encapsulated: [String: Int] = [:]
        /// Geneve datagrams an end received and wrote to its TAP device.
        public var decapsulated: [String: Int] = [:]
        public var bytes: [String: Int] = [:]
        /// Datagrams on 6081 that were not Geneve for a known VNI.
        public var dropped = 0
        /// Frames other than IPv4 (ARP, mostly), carried but not counted above: they are the tunnel's
        /// own housekeeping, not traffic a path could have taken.
        public var control = 0

        public init() {}
    }

    private let ends: [End]
    private let lock = NSLock()
    private var counters = Counters()

    static let headerLength = 8
    /// Transparent Ethernet Bridging: the payload is an Ethernet frame.
    static let ethernetProtocol: UInt16 = 0x6558

    /// Opens both ends: in each netns, its TAP devices (by VNI) and a UDP socket on 6081 that sends to `peer`.
    public init(_ specs: [(name: String, netns: String, taps: [UInt32: String], local: String, peer: String)]) throws {
        ends = try specs.map { spec in
            try DedicatedThread.run {
                try NetworkNamespace.within(spec.netns) {
                    var taps: [UInt32: Int32] = [:]
                    for (vni, device) in spec.taps { taps[vni] = try TapDevice.open(device) }
                    return End(name: spec.name, udp: try Self.udpSocket(on: spec.local), peer: try Self.address(spec.peer, port: 6081), taps: taps,
                               keys: taps.keys.reduce(into: [:]) { $0[$1] = "\(spec.name):\($1)" })
                }
            }
        }
    }

    public func snapshot() -> Counters { lock.withLock { counters } }

    /// Forwards frames both ways until the process ends.
    public func run() -> Never {
        var polled: [pollfd] = []
        var owners: [(end: Int, vni: UInt32?)] = []
        for (index, end) in ends.enumerated() {
            polled.append(pollfd(fd: end.udp, events: Int16(POLLIN), revents: 0))
            owners.append((index, nil))
            for (vni, tap) in end.taps {
                polled.append(pollfd(fd: tap, events: Int16(POLLIN), revents: 0))
                owners.append((index, vni))
            }
        }
        var buffer = [UInt8](repeating: 0, count: 65_600)
        while true {
            guard poll(&polled, nfds_t(polled.count), -1) > 0 else { continue }
            for (slot, entry) in polled.enumerated() where entry.revents & Int16(POLLIN) != 0 {
                let owner = owners[slot]
                if let vni = owner.vni {
                    encapsulate(from: entry.fd, vni: vni, to: ends[owner.end], &buffer)
                } else {
                    decapsulate(from: ends[owner.end], &buffer)
                }
            }
        }
    }

    /// A frame the kernel sent into a TAP device goes to the other end as one Geneve datagram.
    private func encapsulate(from tap: Int32, vni: UInt32, to end: End, _ buffer: inout [UInt8]) {
        let count = buffer.withUnsafeMutableBytes { read(tap, $0.baseAddress! + Self.headerLength, $0.count - Self.headerLength) }
        guard count > 0 else { return }
        Self.writeHeader(vni: vni, into: &buffer)
        var peer = end.peer
        _ = buffer.withUnsafeBytes { bytes in
            withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(end.udp, bytes.baseAddress, Self.headerLength + count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        record(encapsulated: true, end.keys[vni]!, bytes: count, ipv4: Self.isIPv4(buffer, frameAt: Self.headerLength, length: count))
    }

    /// A Geneve datagram becomes a frame on the TAP device of its VNI.
    private func decapsulate(from end: End, _ buffer: inout [UInt8]) {
        let count = buffer.withUnsafeMutableBytes { recv(end.udp, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return }
        guard let (vni, offset) = Self.parseHeader(buffer[0..<count]), let tap = end.taps[vni] else {
            lock.withLock { counters.dropped += 1 }
            return
        }
        _ = buffer.withUnsafeBytes { write(tap, $0.baseAddress! + offset, count - offset) }
        record(encapsulated: false, end.keys[vni]!, bytes: count - offset, ipv4: Self.isIPv4(buffer, frameAt: offset, length: count - offset))
    }

    private func record(encapsulated: Bool, _ key: String, bytes: Int, ipv4: Bool) {
        lock.withLock {
            guard ipv4 else {
                counters.control += 1
                return
            }
            if encapsulated { counters.encapsulated[key, default: 0] += 1 } else { counters.decapsulated[key, default: 0] += 1 }
            counters.bytes[key, default: 0] += bytes
        }
    }

    /// Whether the Ethernet frame at `start` carries IPv4.
    static func isIPv4(_ buffer: [UInt8], frameAt start: Int, length: Int) -> Bool {
        length >= 14 && buffer[start + 12] == 0x08 && buffer[start + 13] == 0x00
    }

    /// Version 0, no options, protocol 0x6558, the 24-bit VNI.
    static func writeHeader(vni: UInt32, into buffer: inout [UInt8]) {
        buffer[0] = 0
        buffer[1] = 0
        buffer[2] = UInt8(ethernetProtocol >> 8)
        buffer[3] = UInt8(ethernetProtocol & 0xff)
        buffer[4] = UInt8(vni >> 16 & 0xff)
        buffer[5] = UInt8(vni >> 8 & 0xff)
        buffer[6] = UInt8(vni & 0xff)
        buffer[7] = 0
    }

    /// The VNI and where the inner frame starts, or nil for anything but version-0 Geneve carrying Ethernet.
    static func parseHeader(_ datagram: ArraySlice<UInt8>) -> (vni: UInt32, payload: Int)? {
        let at = { (offset: Int) in datagram[datagram.startIndex + offset] }  // no copy: this runs per packet
        guard datagram.count >= headerLength, at(0) >> 6 == 0,
              UInt16(at(2)) << 8 | UInt16(at(3)) == ethernetProtocol else { return nil }
        let options = Int(at(0) & 0x3f) * 4
        let vni = UInt32(at(4)) << 16 | UInt32(at(5)) << 8 | UInt32(at(6))
        let payload = headerLength + options
        return payload < datagram.count ? (vni, payload) : nil
    }

    private static func udpSocket(on local: String) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetnsError.errno("UDP socket for Geneve") }
        var address = try address(local, port: 6081)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else {
            let error = NetnsError.errno("bind Geneve UDP \(local):6081")
            close(fd)
            throw error
        }
        return fd
    }

    private static func address(_ ip: String, port: UInt16) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, ip, &address.sin_addr) == 1 else { throw NetnsError("not an IPv4 address: \(ip)") }
        return address
    }
}
