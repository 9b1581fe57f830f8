@testable import Dataplane
import NIOCore
import NIOHTTP1
import XCTest

/// A request body on its way through the L7 proxy: streamed to the attempt under way, kept for a retry.
final class RequestBodyTests: XCTestCase {
    private func describe(_ part: HTTPClientRequestPart) -> String {
        switch part {
        case .head: "head"
        case .body(.byteBuffer(let bytes)): String(buffer: bytes)
        case .body: "file"
        case .end: "end"
        }
    }

    func testWhatArrivedGoesOutInOneFlushThenEachPartAsItComes() {
        let body = RequestBody()
        body.append(ByteBuffer(string: "a"))
        var written: [String] = [], flushes = 0
        body.stream(write: { written.append(self.describe($0)) }, flush: { flushes += 1 })
        XCTAssertEqual(written, ["a"])
        XCTAssertEqual(flushes, 1, "the head and what arrived go out together")
        body.append(ByteBuffer(string: "b"))
        body.finish(nil)
        XCTAssertEqual(written, ["a", "b", "end"])
        XCTAssertEqual(flushes, 3)
    }

    func testABodyThatHasAllArrivedIsOneWrite() {
        let body = RequestBody()
        body.append(ByteBuffer(string: "whole"))
        body.finish(nil)
        var written: [String] = [], flushes = 0
        body.stream(write: { written.append(self.describe($0)) }, flush: { flushes += 1 })
        XCTAssertEqual(written, ["whole", "end"])
        XCTAssertEqual(flushes, 1)
        XCTAssertTrue(body.ended)
    }

    func testARetrySendsEverythingAgainUntilTheBodyOutgrowsTheBuffer() {
        let body = RequestBody()
        body.stream(write: { _ in }, flush: {})
        body.append(ByteBuffer(string: "first"))
        body.detach()  // that attempt failed
        var again: [String] = []
        body.stream(write: { again.append(self.describe($0)) }, flush: {})
        XCTAssertEqual(again, ["first"], "a retry gets what the failed attempt got")
        XCTAssertTrue(body.retryable)
        body.append(ByteBuffer(repeating: 0x78, count: RequestBody.retryLimit))
        XCTAssertFalse(body.retryable, "past 1 MiB nothing is kept for another attempt")
    }

    func testAfterALocalAnswerTheRestGoesNowhere() {
        let body = RequestBody()
        var written: [String] = []
        body.stream(write: { written.append(self.describe($0)) }, flush: {})
        body.discard()
        body.append(ByteBuffer(string: "late"))
        body.finish(nil)
        XCTAssertEqual(written, [])
        XCTAssertEqual(body.kept.readableBytes, 0)
    }
}
