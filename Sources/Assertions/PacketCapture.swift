import CPcap
import Foundation
import Glibc
import Netns

/// A live capture on one interface inside a netns, written to a pcap file Wireshark and tshark open.
/// The capture socket is opened from a thread inside the netns and is live when `start` returns, so
/// nothing sent afterwards is missed.
public final class PacketCapture: @unchecked Sendable {
    public let file: String
    private let handle: OpaquePointer
    private let dumper: OpaquePointer
    private let lock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    public static func start(netns: String, interface: String, file: String) throws -> PacketCapture {
        let opened = try DedicatedThread.run {
            try NetworkNamespace.within(netns) { try open(interface, in: netns, writingTo: file) }
        }
        let capture = PacketCapture(file: file, handle: opened.handle, dumper: opened.dumper)
        let thread = Thread { capture.loop() }
        thread.start()
        return capture
    }

    private init(file: String, handle: OpaquePointer, dumper: OpaquePointer) {
        self.file = file
        self.handle = handle
        self.dumper = dumper
    }

    /// A live capture handle and its file writer, handed from the thread that opened them.
    private struct Opened: @unchecked Sendable {
        var handle: OpaquePointer
        var dumper: OpaquePointer
    }

    private static func open(_ interface: String, in netns: String, writingTo file: String) throws -> Opened {
        var error = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_create(interface, &error) else {
            throw NetnsError("capture on \(interface) in \(netns): \(String(cString: error))")
        }
        pcap_set_snaplen(handle, 65535)
        pcap_set_immediate_mode(handle, 1)
        // A bridge hands frames it forwards between ports to its own device only when promiscuous.
        pcap_set_promisc(handle, 1)
        guard pcap_activate(handle) >= 0, pcap_setnonblock(handle, 1, &error) == 0 else {
            let reason = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw NetnsError("capture on \(interface) in \(netns): \(reason)")
        }
        guard let dumper = pcap_dump_open(handle, file) else {
            let reason = String(cString: pcap_geterr(handle))
            pcap_close(handle)
            throw NetnsError("write capture file \(file): \(reason)")
        }
        return Opened(handle: handle, dumper: dumper)
    }

    /// Writes packets as they arrive, until `stop`.
    private func loop() {
        let fd = pcap_get_selectable_fd(handle)
        while !lock.withLock({ stopping }) {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 20) > 0 { dispatch() }
        }
        dispatch()
        finished.signal()
    }

    private func dispatch() {
        let user = UnsafeMutablePointer<UInt8>(dumper)
        _ = pcap_dispatch(handle, -1, { user, header, bytes in pcap_dump(user, header, bytes) }, user)
    }

    /// Stops capturing and closes the file; returns its packets.
    @discardableResult
    public func stop() throws -> [CapturedPacket] {
        lock.withLock { stopping = true }
        finished.wait()
        pcap_dump_close(dumper)
        pcap_close(handle)
        return try CapturedPacket.read(file)
    }
}

/// A packet from a capture file, decoded as far as checks need: Ethernet, IPv4, TCP or UDP, payload.
public struct CapturedPacket: Sendable, CustomStringConvertible {
    public var number: Int
    public var ipProtocol: Int
    public var source: String
    public var destination: String
    public var sourcePort: Int
    public var destinationPort: Int
    public var payload: [UInt8]

    public var isTCP: Bool { ipProtocol == 6 }
    public func uses(port: Int) -> Bool { sourcePort == port || destinationPort == port }
    /// IGMP, or anything to the local network control block 224.0.0.0/24.
    public var isLinkLocalControl: Bool { ipProtocol == 2 || destination.hasPrefix("224.0.0.") }

    public var description: String {
        let name = [6: "tcp", 17: "udp", 1: "icmp"][ipProtocol] ?? "ip proto \(ipProtocol)"
        let ports = isTCP || ipProtocol == 17 ? "\(source):\(sourcePort) → \(destination):\(destinationPort)" : "\(source) → \(destination)"
        return "#\(number) \(name) \(ports), \(payload.count) payload bytes"
    }

    /// The IPv4 packets in a pcap file (other frames, such as ARP, are left out).
    public static func read(_ file: String) throws -> [CapturedPacket] {
        var error = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let handle = pcap_open_offline(file, &error) else { throw NetnsError("read capture \(file): \(String(cString: error))") }
        defer { pcap_close(handle) }
        var packets: [CapturedPacket] = []
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        var number = 0
        while pcap_next_ex(handle, &header, &data) == 1, let header, let data {
            number += 1
            let frame = UnsafeBufferPointer(start: data, count: Int(header.pointee.caplen))
            if let packet = decode(Array(frame), number: number) { packets.append(packet) }
        }
        return packets
    }

    static func decode(_ frame: [UInt8], number: Int) -> CapturedPacket? {
        // Ethernet II carrying IPv4.
        guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00 else { return nil }
        let ip = 14, headerLength = Int(frame[ip] & 0x0f) * 4
        let totalLength = min(frame.count - ip, Int(frame[ip + 2]) << 8 | Int(frame[ip + 3]))
        let ipProtocol = Int(frame[ip + 9])
        let address = { (at: Int) in (0..<4).map { String(frame[at + $0]) }.joined(separator: ".") }
        var packet = CapturedPacket(number: number, ipProtocol: ipProtocol, source: address(ip + 12), destination: address(ip + 16),
                                    sourcePort: 0, destinationPort: 0, payload: [])
        let transport = ip + headerLength, end = ip + totalLength
        guard ipProtocol == 6 || ipProtocol == 17, transport + 8 <= end else { return packet }
        packet.sourcePort = Int(frame[transport]) << 8 | Int(frame[transport + 1])
        packet.destinationPort = Int(frame[transport + 2]) << 8 | Int(frame[transport + 3])
        let payloadStart = ipProtocol == 6 ? transport + Int(frame[transport + 12] >> 4) * 4 : transport + 8
        if payloadStart < end { packet.payload = Array(frame[payloadStart..<end]) }
        return packet
    }
}
