import CheckoutLabs
import MeshLabRuntime
import XCTest

final class CheckoutLabTests: XCTestCase {
    func testCheckoutAdmitsOnlyTheFrontend() throws {
        let report = try LabTesting.run(checkoutLab)
        XCTAssertTrue(report.passed, report.failures)
        XCTAssertEqual(report.checks.count, 2)
    }
}
