import Foundation
import Labs
import MeshLab
import XCTest

final class CatalogTests: XCTestCase {
    /// labs/ holds only lab files: every file there is in the catalog, named after the lab it declares.
    func testEveryLabFileIsListedAndValid() throws {
        let labsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../labs").standardizedFileURL
        let files = try FileManager.default.contentsOfDirectory(atPath: labsDirectory.path).sorted()
        XCTAssertFalse(files.isEmpty)
        XCTAssertEqual(files, LabCatalog.all.map { "\($0.name).swift" }.sorted())
        for lab in LabCatalog.all {
            XCTAssertEqual(URL(fileURLWithPath: lab.at.file).lastPathComponent, "\(lab.name).swift")
            XCTAssertEqual(validate(lab), [], lab.name)
        }
        XCTAssertNotNil(LabCatalog.lab(named: LabCatalog.defaultLab))
    }

    func testBenchLabsValidate() {
        for pods in [100, 500] { XCTAssertEqual(validate(BenchLabs.scale(pods: pods)), [], "\(pods) pods") }
        for lab in [BenchLabs.ztunnel, BenchLabs.waypoint] + ([nil] + RedirectionMode.allCases).map(BenchLabs.redirect) {
            XCTAssertEqual(validate(lab), [], lab.name)
        }
    }
}
