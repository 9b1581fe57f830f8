@testable import Dataplane
import NIOHTTP1
import XCTest

/// Which upgrades the L7 proxy passes on: WebSocket over HTTP/1.1, as Istio allows by default.
final class ProtocolUpgradeTests: XCTestCase {
    private func head(_ headers: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .GET, uri: "/ws", headers: HTTPHeaders(headers))
    }

    func testWebSocketUpgradesArePassedOn() {
        XCTAssertEqual(ProtocolUpgrade.requested(head([("Connection", "Upgrade"), ("Upgrade", "websocket")])), "websocket")
        XCTAssertEqual(ProtocolUpgrade.requested(head([("connection", "keep-alive, upgrade"), ("upgrade", "WebSocket")])), "WebSocket",
                       "Connection is a token list, matched without case")
    }

    func testOtherRequestsAreNotUpgrades() {
        XCTAssertFalse(ProtocolUpgrade.endsHTTP(head([("Connection", "keep-alive")])))
        XCTAssertNil(ProtocolUpgrade.requested(head([("Upgrade", "websocket")])), "no Connection: upgrade")
        XCTAssertNil(ProtocolUpgrade.requested(head([("Connection", "Upgrade"), ("Upgrade", "h2c")])), "h2c upgrade is not passed on")
        XCTAssertTrue(ProtocolUpgrade.endsHTTP(head([("Connection", "Upgrade"), ("Upgrade", "h2c")])),
                      "but it is the connection's last request: the decoder stops after it")
        XCTAssertNil(ProtocolUpgrade.requested(head([("Connection", "Upgrade"), ("Upgrade", "websocket")], version: .http1_0)), "HTTP/1.0")
        XCTAssertNil(ProtocolUpgrade.requested(head([("Connection", "Upgrade"), ("Upgrade", "websocket")], version: HTTPVersion(major: 2, minor: 0))), "an h2c request")
    }
}
