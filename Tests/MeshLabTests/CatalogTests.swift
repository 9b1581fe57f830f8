import Foundation
import Labs
import MeshLab
import XCTest

final class CatalogTests: XCTestCase {
    /// Every lab file in labs/ is in the catalog, and is named after the lab it declares.
    func testEveryLabFileIsListedAndValid() throws {
        let labsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../labs").standardizedFileURL
        let helpers: Set = ["catalog.swift", "scale.swift"]
        let files = try FileManager.default.contentsOfDirectory(atPath: labsDirectory.path)
            .filter { $0.hasSuffix(".swift") && !helpers.contains($0) }.sorted()
        XCTAssertFalse(files.isEmpty)
        XCTAssertEqual(files, LabCatalog.all.map { "\($0.name).swift" }.sorted())
        for lab in LabCatalog.all {
            XCTAssertEqual(URL(fileURLWithPath: lab.at.file).lastPathComponent, "\(lab.name).swift")
            XCTAssertEqual(validate(lab), [], lab.name)
        }
        XCTAssertNotNil(LabCatalog.lab(named: LabCatalog.defaultLab))
    }

    func testScaleLabValidatesAtBenchmarkSizes() {
        for pods in [100, 500] { XCTAssertEqual(validate(BenchLabs.scale(pods: pods)), [], "\(pods) pods") }
    }
}
