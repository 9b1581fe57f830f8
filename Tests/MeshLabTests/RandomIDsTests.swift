@testable import Dataplane
import Foundation
import XCTest

final class RandomIDsTests: XCTestCase {
    func testRequestIDsAreDistinctVersion4UUIDs() {
        let ids = RandomIDs()
        let drawn = (0..<1000).map { _ in ids.requestID() }
        XCTAssertEqual(Set(drawn).count, drawn.count)
        for id in drawn.prefix(50) {
            XCTAssertEqual(UUID(uuidString: id)?.uuidString.lowercased(), id, "lowercase 8-4-4-4-12")
            XCTAssertEqual(Array(id)[14], "4", "version 4: \(id)")
            XCTAssertTrue("89ab".contains(Array(id)[19]), "RFC 4122 variant: \(id)")
        }
    }

    func testTraceIDsAre32HexDigits() {
        let ids = RandomIDs()
        let drawn = (0..<100).map { _ in ids.traceID() }
        XCTAssertEqual(Set(drawn).count, drawn.count)
        XCTAssertTrue(drawn.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() }, "\(drawn.prefix(3))")
    }
}
