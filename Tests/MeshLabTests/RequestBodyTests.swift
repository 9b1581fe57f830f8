@testable import Dataplane
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

/// A request body on its way through the L7 proxy: streamed to the attempt under way, kept for a
/// retry, and read from the client only while it can go on.
final class RequestBodyTests: XCTestCase {
    /// What reached the upstream channel (flushed), as "text" per body part and "end".
    private func sent(_ upstream: EmbeddedChannel) throws -> [String] {
        var parts: [String] = []
        while let part = try upstream.readOutbound(as: HTTPClientRequestPart.self) {
            switch part {
            case .head: parts.append("head")
            case .body(.byteBuffer(let bytes)): parts.append(String(buffer: bytes))
            case .body: parts.append("file")
            case .end: parts.append("end")
            }
        }
        return parts
    }

    func testWhatArrivedGoesOutAtOnceThenWhatEachReadBrings() throws {
        let body = RequestBody(), upstream = EmbeddedChannel()
        body.append(ByteBuffer(string: "a"))
        body.stream(to: upstream)
        XCTAssertEqual(try sent(upstream), ["a"], "what arrived is flushed with the head")
        body.append(ByteBuffer(string: "b"))
        body.append(ByteBuffer(string: "c"))
        XCTAssertEqual(try sent(upstream), [], "parts wait for the end of the client's read")
        body.flush()
        XCTAssertEqual(try sent(upstream), ["b", "c"], "then go on in one flush")
        body.finish(nil)
        XCTAssertEqual(try sent(upstream), ["end"])
    }

    func testABodyThatHasAllArrivedIsOneWrite() throws {
        let body = RequestBody(), upstream = EmbeddedChannel()
        body.append(ByteBuffer(string: "whole"))
        body.finish(nil)
        body.stream(to: upstream)
        XCTAssertEqual(try sent(upstream), ["whole", "end"])
        XCTAssertTrue(body.ended)
    }

    func testARetrySendsEverythingAgainUntilTheBodyOutgrowsTheBuffer() throws {
        let body = RequestBody()
        body.stream(to: EmbeddedChannel())
        body.append(ByteBuffer(string: "first"))
        body.detach()  // that attempt failed
        let again = EmbeddedChannel()
        body.stream(to: again)
        XCTAssertEqual(try sent(again), ["first"], "a retry gets what the failed attempt got")
        XCTAssertTrue(body.retryable)
        body.append(ByteBuffer(repeating: 0x78, count: RequestBody.retryLimit))
        XCTAssertFalse(body.retryable, "past 1 MiB nothing is kept for another attempt")
    }

    func testAfterALocalAnswerTheRestGoesNowhere() throws {
        let body = RequestBody(), upstream = EmbeddedChannel()
        body.stream(to: upstream)
        body.discard()
        body.append(ByteBuffer(string: "late"))
        body.finish(nil)
        XCTAssertEqual(try sent(upstream), [])
        XCTAssertEqual(body.kept.readableBytes, 0)
        XCTAssertTrue(body.wantsMore, "what is dropped may keep coming")
    }

    /// Envoy's flow control: the client is read while the upstream can take more, and while there is
    /// no upstream yet only up to the retry buffer.
    func testMoreIsWantedOnlyWhileItCanGoOn() {
        let body = RequestBody()
        body.append(ByteBuffer(repeating: 0x78, count: RequestBody.retryLimit))
        XCTAssertTrue(body.wantsMore, "up to the retry buffer while the upstream is being opened")
        body.append(ByteBuffer(string: "more"))
        XCTAssertFalse(body.wantsMore, "past it, the client waits for an upstream")
        let upstream = EmbeddedChannel()
        body.stream(to: upstream)
        XCTAssertTrue(body.wantsMore, "an upstream that can take it")
        upstream.isWritable = false
        XCTAssertFalse(body.wantsMore, "an upstream that cannot take more holds the client back")
        body.finish(nil)
        XCTAssertTrue(body.wantsMore, "a finished body has nothing left to hold back")
    }
}
