@testable import Dataplane
import NIOCore
import NIOEmbedded
import XCTest

/// The sniffer picks the protocol once, and bytes that arrive while the chosen handlers are being
/// installed and fed (re-entrantly, as an HBONE stream delivers its pending DATA) follow in order.
final class ProtocolSnifferTests: XCTestCase {
    /// Collects what reaches the end of the pipeline; on its first bytes it makes the channel
    /// deliver `more` at once (a read that returns buffered data synchronously).
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var received = ""
        var more: ByteBuffer?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            received += String(buffer: unwrapInboundIn(data))
            if let next = more {
                more = nil
                context.channel.pipeline.fireChannelRead(next)
            }
        }
    }

    func testBytesReadWhileHandingOverFollowTheBufferedOnesAndInstallOnce() throws {
        let collector = Collector()
        collector.more = ByteBuffer(string: "<frame 2>")
        var installs: [ProtocolSniffer.Kind] = []
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ProtocolSniffer { kind, channel in
            installs.append(kind)
            try channel.pipeline.syncOperations.addHandler(collector)
            channel.pipeline.fireChannelRead(ByteBuffer(string: "<during install>"))
        })
        try channel.writeInbound(ByteBuffer(string: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n<frame 1>"))
        XCTAssertEqual(installs, [.h2c], "the protocol is chosen once")
        XCTAssertEqual(collector.received, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n<frame 1><during install><frame 2>")
        try channel.writeInbound(ByteBuffer(string: "<later>"))
        XCTAssertTrue(collector.received.hasSuffix("<frame 2><later>"))
        XCTAssertNil(try? channel.pipeline.syncOperations.handler(type: ProtocolSniffer.self), "the sniffer steps aside")
    }

    func testWaitsForEnoughBytesToTell() throws {
        var installs: [ProtocolSniffer.Kind] = []
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ProtocolSniffer { kind, channel in
            installs.append(kind)
            try channel.pipeline.syncOperations.addHandler(Collector())
        })
        try channel.writeInbound(ByteBuffer(string: "GE"))
        XCTAssertEqual(installs, [])
        try channel.writeInbound(ByteBuffer(string: "T / HTTP/1.1\r\n"))
        XCTAssertEqual(installs, [.http1])
    }
}
