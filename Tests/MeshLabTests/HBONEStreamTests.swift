@testable import Dataplane
import NIOCore
import NIOEmbedded
import NIOHTTP2
import XCTest

/// What an HBONE tunnel puts on its HTTP/2 stream for the bytes written into it.
final class HBONEStreamTests: XCTestCase {
    private func tunnel() throws -> EmbeddedChannel {
        let status = EmbeddedEventLoop().makePromise(of: Int.self)
        status.fail(ChannelError.eof)  // not awaited here
        return EmbeddedChannel(handler: HBONEStream(.client(request: [":method": "CONNECT"], status: status)))
    }

    /// An h2c encoder inside the tunnel writes an empty buffer for each END_STREAM; as DATA frames they
    /// would add up to an "excessive empty DATA frames" flood that makes the peer drop the connection.
    func testEmptyWritesSendNoDataFrame() throws {
        let channel = try tunnel()
        let empty = channel.eventLoop.makePromise(of: Void.self)
        channel.write(IOData.byteBuffer(ByteBuffer()), promise: empty)
        channel.write(IOData.byteBuffer(ByteBuffer(string: "answer")), promise: nil)
        channel.write(IOData.byteBuffer(ByteBuffer()), promise: nil)
        channel.flush()
        XCTAssertNoThrow(try empty.futureResult.wait(), "an empty write still completes")
        guard case .data(let data) = try channel.readOutbound(as: HTTP2Frame.FramePayload.self),
              case .byteBuffer(let bytes) = data.data else { return XCTFail("the bytes go out as one DATA frame") }
        XCTAssertEqual(String(buffer: bytes), "answer")
        XCTAssertNil(try channel.readOutbound(as: HTTP2Frame.FramePayload.self), "nothing for the empty writes")
    }

    func testHalfCloseIsAnEmptyDataFrameWithEndStream() throws {
        let channel = try tunnel()
        try channel.close(mode: .output).wait()
        guard case .data(let data) = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) else { return XCTFail("END_STREAM") }
        XCTAssertTrue(data.endStream)
        XCTAssertEqual(data.data.readableBytes, 0)
    }
}
