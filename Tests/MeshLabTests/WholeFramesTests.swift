@testable import Dataplane
import NIOCore
import NIOEmbedded
import XCTest

/// HTTP/2 bytes as they reach NIOHTTP2 on an HBONE connection: whole frames only, however TLS
/// records cut them.
final class WholeFramesTests: XCTestCase {
    private static let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    /// A frame: 9-byte header (24-bit length, type, flags, stream) and `length` payload bytes.
    private func frame(length: Int, fill: UInt8) -> [UInt8] {
        [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), 0x0, 0x0, 0, 0, 0, 1]
            + [UInt8](repeating: fill, count: length)
    }

    /// Feeds `bytes` cut at `cuts`, returns what was passed on, read by read.
    private func feed(_ bytes: [UInt8], cuts: [Int], server: Bool) throws -> [[UInt8]] {
        let channel = EmbeddedChannel(handler: WholeFrames(server: server))
        var start = 0
        for end in cuts + [bytes.count] where end > start {
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<end]))
            start = end
        }
        var passed: [[UInt8]] = []
        while let read = try channel.readInbound(as: ByteBuffer.self) { passed.append(Array(read.readableBytesView)) }
        return passed
    }

    func testFramesCutAnywhereArriveWholeAndInOrder() throws {
        let frames = [frame(length: 5, fill: 1), frame(length: 0, fill: 0), frame(length: 300, fill: 2), frame(length: 17, fill: 3)]
        let stream = frames.flatMap { $0 }
        let boundaries = Set(frames.indices.map { frames[...$0].map(\.count).reduce(0, +) })
        for cut in 1..<stream.count {
            for second in [cut + 7, cut + 150] where second < stream.count {
                let passed = try feed(stream, cuts: [cut, second], server: false)
                XCTAssertEqual(passed.flatMap { $0 }, stream, "cut at \(cut), \(second): every byte, in order")
                var offset = 0
                for read in passed {
                    offset += read.count
                    XCTAssertTrue(boundaries.contains(offset), "cut at \(cut), \(second): a read ends mid-frame at \(offset)")
                }
            }
        }
    }

    func testAServerPassesTheClientPrefaceBeforeTheFirstFrame() throws {
        let stream = Array(Self.preface.utf8) + frame(length: 6, fill: 9)
        for cut in 1..<stream.count {
            let passed = try feed(stream, cuts: [cut], server: true)
            XCTAssertEqual(passed.flatMap { $0 }, stream)
            if cut > 24 && cut < stream.count {
                XCTAssertEqual(passed.first?.count, 24, "the preface goes on at once; the frame waits for its end")
            }
        }
    }

    func testAFrameLargerThanHBONEAllowsIsPassedOnForNIOHTTP2ToRefuse() throws {
        let header: [UInt8] = [0x20, 0, 0, 0x0, 0x0, 0, 0, 0, 1]  // 2 MiB announced, 1 MiB allowed
        let passed = try feed(header + [1, 2, 3, 4, 5], cuts: [3, 8, 10], server: false)
        XCTAssertEqual(passed.flatMap { $0 }, header + [1, 2, 3, 4, 5], "not held waiting for 2 MiB")
        XCTAssertEqual(passed.last, [2, 3, 4, 5], "and what follows goes on as it comes, not parsed as frames")
    }
}
