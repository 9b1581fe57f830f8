@testable import Dataplane
import NIOCore
import XCTest

/// The PROXY protocol v2 header ztunnel writes to a waypoint behind it, byte for byte.
final class ProxyProtocolTests: XCTestCase {
    private let header = ProxyHeader(source: ("10.244.0.2", 51506), destination: ("10.96.0.1", 8000),
                                     identity: "spiffe://cluster.local/ns/shop/sa/sleep")

    func testEncodesSignatureAddressesAndTheIdentityTLV() {
        let bytes = Array(header.encoded().readableBytesView)
        XCTAssertEqual(Array(bytes[0..<12]), [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A])
        XCTAssertEqual(bytes[12], 0x21, "version 2, command PROXY")
        XCTAssertEqual(bytes[13], 0x11, "TCP over IPv4")
        let identity = Array("spiffe://cluster.local/ns/shop/sa/sleep".utf8)
        XCTAssertEqual(Int(bytes[14]) << 8 | Int(bytes[15]), 12 + 3 + identity.count)
        XCTAssertEqual(Array(bytes[16..<28]), [10, 244, 0, 2, 10, 96, 0, 1, 0xC9, 0x32, 0x1F, 0x40])
        XCTAssertEqual(Array(bytes[28..<31]), [0xD0, 0x00, UInt8(identity.count)])
        XCTAssertEqual(Array(bytes[31...]), identity)
    }

    func testReadsBackWhatItWroteAndLeavesTheBytesAfterIt() throws {
        var buffer = header.encoded()
        buffer.writeString("GET / HTTP/1.1\r\n")
        XCTAssertEqual(try ProxyHeader.read(from: &buffer), header)
        XCTAssertEqual(buffer.readString(length: buffer.readableBytes), "GET / HTTP/1.1\r\n")
    }

    func testWaitsForTheWholeHeaderAndSkipsUnknownTLVs() throws {
        var full = header.encoded()
        full.writeBytes([0x04, 0x00, 0x02, 0xAA, 0xBB])  // a NOOP TLV after the identity
        let length = full.getInteger(at: 14, as: UInt16.self)!
        full.setInteger(length + 5, at: 14)
        var partial = full.getSlice(at: 0, length: full.readableBytes - 1)!
        XCTAssertNil(try ProxyHeader.read(from: &partial), "one byte short")
        XCTAssertEqual(try ProxyHeader.read(from: &full), header)
    }

    func testRefusesWhatIsNotAProxyHeader() {
        var http = ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")
        XCTAssertThrowsError(try ProxyHeader.read(from: &http))
        var local = header.encoded()
        local.setInteger(UInt8(0x20), at: 12)  // LOCAL command: ztunnel never sends it
        XCTAssertThrowsError(try ProxyHeader.read(from: &local))
    }
}
