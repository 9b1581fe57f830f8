@testable import Dataplane
import Foundation
import XCTest

/// Access-log lines are written by hand; what checks read back with JSONDecoder must be the event.
final class EventJSONTests: XCTestCase {
    private func decoded(_ line: [UInt8]) throws -> ConnectionEvent {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(ConnectionEvent.self, from: Data(line))
    }

    func testEveryFieldComesBackAndKeysAreSorted() throws {
        var event = ConnectionEvent(event: .request, id: "waypoint shop/waypoint-7", direction: "inbound")
        event.time = Date(timeIntervalSince1970: 1_795_448_000)
        (event.srcAddr, event.srcWorkload, event.srcNamespace, event.srcIdentity) = ("10.244.0.2:5000", "sleep", "shop", "spiffe://cluster.local/ns/shop/sa/sleep")
        (event.dstAddr, event.dstHboneAddr, event.hboneConnection, event.traceParent) = ("10.96.0.1:8000", "10.244.1.3:15008", "node-a-3", "00f067aa0ba902b7")
        (event.dstService, event.dstWorkload, event.dstIdentity) = ("httpbin.shop.svc.cluster.local", "httpbin", "spiffe://cluster.local/ns/shop/sa/httpbin")
        (event.policy, event.allowed, event.reason, event.error) = ("shop/deny-post", false, "explicitly denied by shop/deny-post", "upstream \"reset\"\n\\ \u{1}")
        (event.bytesSent, event.bytesRecv, event.durationMs) = (120, 4096, 1.25)
        (event.method, event.path, event.status, event.requestID) = ("POST", "/a/b?c=d", 403, "4f1c")
        (event.route, event.upstreamHost, event.attempts, event.responseFlags) = ("shop/reviews#4", "10.244.1.3:8000", 3, "URX")
        let line = event.jsonLine(timestamp: iso8601(secondsSince1970: 1_795_448_000)[...])
        XCTAssertEqual(try decoded(line), event)
        XCTAssertEqual(line.last, UInt8(ascii: "\n"))
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line)) as? [String: Any]).keys
        XCTAssertEqual(keys.count, 30, "every field written")
        let text = String(decoding: line, as: UTF8.self)
        let order = keys.sorted().map { text.range(of: "\"\($0)\":")!.lowerBound }
        XCTAssertEqual(order, order.sorted(), "keys in sorted order")
        XCTAssertTrue(text.contains(#""path":"/a/b?c=d""#), "slashes unescaped: \(text)")
        XCTAssertTrue(text.contains(#""attempts":3"#) && text.contains(#""allowed":false"#))
    }

    func testAbsentFieldsAreLeftOutAndTheTimeIsJSONEncodersISO8601() throws {
        var event = ConnectionEvent(event: .opened, id: "node-a-1", direction: "outbound")
        event.time = Date(timeIntervalSince1970: 1_795_448_000.75)
        let line = event.jsonLine(timestamp: iso8601(secondsSince1970: 1_795_448_000)[...])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let stamp = String(decoding: try encoder.encode([Date(timeIntervalSince1970: 1_795_448_000)]), as: UTF8.self).dropFirst().dropLast()
        XCTAssertEqual(String(decoding: line, as: UTF8.self), "{\"direction\":\"outbound\",\"event\":\"opened\",\"id\":\"node-a-1\",\"time\":\(stamp)}\n")
    }
}
