@testable import Assertions
@testable import Dataplane
import MeshLab
import XCTest

/// The judges of the kernel-side expectations, on evidence built by hand: each passes on what
/// holds and fails, saying why, on what does not.
final class EvidenceTests: XCTestCase {
    private func call(_ number: Int, source: String?) -> CallResult {
        CallResult(call: number, target: "10.244.1.2:8000", protocol: "tcp", outcome: .ok, status: nil, reply: nil,
                   echoIntact: true, error: nil, milliseconds: 1, source: source)
    }

    private func entry(sourcePort: Int, replyFrom: (String, Int), packets: Int) -> ConntrackEntry {
        ConntrackEntry(ipProtocol: 6, original: .init(source: "10.244.0.2", destination: "10.244.1.2", sourcePort: sourcePort, destinationPort: 8000),
                       reply: .init(source: replyFrom.0, destination: "10.244.0.2", sourcePort: replyFrom.1, destinationPort: sourcePort),
                       tcpState: "TIME_WAIT", mark: 0x111, originalPackets: packets, replyPackets: packets, originalBytes: 0, replyBytes: 0)
    }

    private let redirect = "nat -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001"

    func testFastPathNeedsOneRedirectedPacketPerConnectionAndTheRestOnConntrack() {
        var evidence = Evidence(calls: [call(1, source: "10.244.0.2:40000"), call(2, source: "10.244.0.2:40001")], events: [], callerIP: "10.244.0.2")
        evidence.conntrack = [entry(sourcePort: 40000, replyFrom: ("127.0.0.1", 15001), packets: 10),
                              entry(sourcePort: 40001, replyFrom: ("127.0.0.1", 15001), packets: 12),
                              entry(sourcePort: 50000, replyFrom: ("127.0.0.1", 15001), packets: 99)]  // not this check's
        evidence.ruleHits = [RuleHit(netns: "pod", rule: redirect, packets: 2)]
        let verdict = evidence.fastPath(firstPackets: 1)
        XCTAssertTrue(verdict.passed, verdict.actual)
        XCTAssertEqual(verdict.actual, "2 connection(s), 2 in conntrack (2 NATed to ztunnel 15001): 22 outgoing packets, 2 through the redirect rule, 20 on the established path")

        evidence.ruleHits = [RuleHit(netns: "pod", rule: redirect, packets: 22)]  // every packet through the rule: no fast path
        XCTAssertFalse(evidence.fastPath(firstPackets: 1).passed)

        evidence.ruleHits = []
        evidence.conntrack = [entry(sourcePort: 40000, replyFrom: ("10.244.1.2", 8000), packets: 10),
                              entry(sourcePort: 40001, replyFrom: ("10.244.1.2", 8000), packets: 12)]
        let uncaptured = evidence.fastPath(firstPackets: 1)
        XCTAssertFalse(uncaptured.passed)
        XCTAssertTrue(uncaptured.actual.contains("(0 NATed to ztunnel 15001)"), uncaptured.actual)
    }

    func testHBONEReuseCountsStreamsAndDistinctConnections() {
        let events = (1...3).map { number in
            var event = ConnectionEvent(event: .opened, id: "node-a-\(number + 10)", direction: "outbound")
            event.srcAddr = "10.244.0.2:4000\(number)"
            event.hboneConnection = number == 3 ? "node-a-2" : "node-a-1"
            return event
        }
        let evidence = Evidence(calls: [], events: events, callerIP: "10.244.0.2")
        XCTAssertTrue(evidence.hboneReuse(connections: 2, streams: 3).passed)
        let verdict = evidence.hboneReuse(connections: 1, streams: 3)
        XCTAssertFalse(verdict.passed)
        XCTAssertEqual(verdict.actual, "3 stream(s) over 2 HBONE connection(s)")
    }

    func testAnL7RequestLineIsItsDecisionAndDecisionlessLinesAreNot() {
        var denied = ConnectionEvent(event: .request, id: "waypoint shop/waypoint-4", direction: "inbound")
        (denied.srcAddr, denied.allowed, denied.policy, denied.status) = ("10.244.0.2:40000", false, "shop/deny-post", 403)
        var outbound = ConnectionEvent(event: .request, id: "sidecar bar/sleep-2", direction: "inbound")
        outbound.srcAddr = "10.244.0.2:40001"  // no authorization on this leg: no decision
        let evidence = Evidence(calls: [], events: [denied, outbound], callerIP: "10.244.0.2")
        XCTAssertTrue(evidence.policyDecision(allowed: false, policy: "shop/deny-post", reason: nil, at: "waypoint shop/waypoint").passed)
        let allowed = evidence.policyDecision(allowed: true, policy: nil, reason: nil, at: "waypoint shop/waypoint")
        XCTAssertFalse(allowed.passed)
        XCTAssertFalse(evidence.policyDecision(allowed: false, policy: nil, reason: nil, at: "sidecar bar/sleep").passed, "no decision there")
    }

    /// An Ethernet II + IPv4 + TCP frame with a payload, as a capture holds it.
    private func frame(from source: [UInt8], port sourcePort: UInt16, to destination: [UInt8], port destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        let ethernet = [UInt8](repeating: 0xaa, count: 12) + [0x08, 0x00]
        let total = UInt16(20 + 20 + payload.count)
        let ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 0, 0x40, 0, 64, 6, 0, 0] + source + destination
        let tcp: [UInt8] = [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xff), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xff),
                            0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]
        return ethernet + ip + tcp + payload + [0, 0, 0, 0]  // trailing Ethernet padding is not payload
    }

    func testCapturedFramesDecodeAndWireJudgesSeePlaintextAndNonHBONE() throws {
        let canary = "meshlab-canary-abc"
        let hbone = try XCTUnwrap(CapturedPacket.decode(frame(from: [172, 30, 0, 1], port: 40000, to: [172, 30, 0, 2], port: 15008,
                                                              payload: [0x17, 0x03, 0x03, 0, 4, 1, 2, 3, 4]), number: 1))
        XCTAssertEqual(hbone.description, "#1 tcp 172.30.0.1:40000 → 172.30.0.2:15008, 9 payload bytes")
        let plain = try XCTUnwrap(CapturedPacket.decode(frame(from: [10, 244, 0, 3], port: 41000, to: [10, 244, 1, 2], port: 8000,
                                                              payload: Array("xx\(canary)yy".utf8)), number: 2))
        XCTAssertEqual(plain.payload.count, canary.count + 4)
        XCTAssertNil(CapturedPacket.decode([UInt8](repeating: 0, count: 12) + [0x08, 0x06] + [UInt8](repeating: 0, count: 28), number: 3), "ARP is not IPv4")

        var evidence = Evidence(calls: [], events: [], callerIP: "10.244.0.2")
        evidence.canary = canary
        var igmp = hbone
        (igmp.ipProtocol, igmp.destination) = (2, "224.0.0.22")
        evidence.captures = [LinkCapture(link: "underlay", file: "u.pcap", packets: [hbone, igmp])]
        XCTAssertTrue(evidence.onlyHBONE(on: "underlay").passed, "the kernel's IGMP reports are not lab traffic")
        XCTAssertTrue(evidence.neverInPlaintext(on: "underlay").passed)
        XCTAssertFalse(evidence.onlyHBONE(on: "node-a").passed, "no capture of the link is a failure, not a pass")

        evidence.captures = [LinkCapture(link: "underlay", file: "u.pcap", packets: [hbone, plain])]
        let mixed = evidence.onlyHBONE(on: "underlay")
        XCTAssertFalse(mixed.passed)
        XCTAssertEqual(mixed.actual, "1 non-HBONE packet(s) besides 1 HBONE: tcp 10.244.0.3 → 10.244.1.2:8000")
        let leaked = evidence.neverInPlaintext(on: "underlay")
        XCTAssertFalse(leaked.passed)
        XCTAssertEqual(leaked.actual, "in plaintext in 1 of 2 packets")
    }
}

/// The userspace Geneve endpoint's header, as RFC 8926 lays it out.
final class GeneveHeaderTests: XCTestCase {
    func testHeaderCarriesTheVNIAndTransparentEthernetAndParsesBack() throws {
        var buffer = [UInt8](repeating: 0xee, count: 20)
        GeneveEndpoint.writeHeader(vni: 1001, into: &buffer)
        XCTAssertEqual(Array(buffer[0..<8]), [0x00, 0x00, 0x65, 0x58, 0x00, 0x03, 0xe9, 0x00])
        let parsed = try XCTUnwrap(GeneveEndpoint.parseHeader(buffer[...]))
        XCTAssertEqual(parsed.vni, 1001)
        XCTAssertEqual(parsed.payload, 8)
        var withOptions = buffer
        withOptions[0] = 0x02  // two 4-byte option words precede the frame
        XCTAssertEqual(GeneveEndpoint.parseHeader(withOptions[...])?.payload, 16)
        var wrongVersion = buffer
        wrongVersion[0] = 0x40
        XCTAssertNil(GeneveEndpoint.parseHeader(wrongVersion[...]))
        var ipPayload = buffer
        ipPayload[2] = 0x08; ipPayload[3] = 0x00
        XCTAssertNil(GeneveEndpoint.parseHeader(ipPayload[...]), "only Ethernet frames are carried")
    }
}

/// What the redirector writes into the eBPF maps, byte for byte as the C structs read it.
final class EBPFMapEncodingTests: XCTestCase {
    func testEndpointsAreIfindexThenMacThenPaddingAndAddressesAreInNetworkOrder() throws {
        XCTAssertEqual(BPFRedirector.endpoint(ifindex: 7, mac: [2, 0, 0, 0, 0, 9]), [7, 0, 0, 0, 2, 0, 0, 0, 0, 9, 0, 0])
        XCTAssertEqual(try BPFRedirector.ipv4("10.244.1.2"), [10, 244, 1, 2])
        XCTAssertThrowsError(try BPFRedirector.ipv4("node-a"))
    }
}

/// The in-pod rule batches, as iptables-restore reads them.
final class InPodRulesTests: XCTestCase {
    func testBothFormsShareTheMarkingAndOutboundCaptureAndDifferInbound() {
        for rules in [InPodRedirection.rules, InPodRedirection.tproxyRules] {
            let lines = rules.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.filter { $0 == "COMMIT" }.count, 2, rules)
            XCTAssertTrue(lines.contains("-A ISTIO_PRERT -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff"))
            XCTAssertTrue(lines.contains("-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark 0x539/0xfff -j REDIRECT --to-ports 15001"))
            XCTAssertFalse(lines.contains { $0.hasPrefix(" ") }, "no stray indentation: \(rules)")
        }
        XCTAssertTrue(InPodRedirection.rules.contains("REDIRECT --to-ports 15006"))
        let tproxy = InPodRedirection.tproxyRules.split(separator: "\n").map(String.init)
        let established = tproxy.firstIndex { $0.contains("--ctstate RELATED,ESTABLISHED -j ACCEPT") }!
        let inbound = tproxy.firstIndex { $0.contains("TPROXY --on-port 15006") }!
        XCTAssertLessThan(established, inbound, "the ctstate rule serves later packets before TPROXY sees them")
    }

    func testTheRulesLetByTheMarkZTunnelPutsOnItsSockets() {
        XCTAssertEqual(InPodRedirection.ztunnelMark, "0x\(String(PodSockets.mark, radix: 16))/0xfff")
    }
}
