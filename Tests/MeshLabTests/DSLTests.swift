import Foundation
import MeshLab
import XCTest

final class DSLTests: XCTestCase {
    func testLabBodyBuildsSpecWithDefaultsAndLocations() {
        let line = #line + 1
        let lab = Lab("demo") {
            Node("node-a")
            Namespace("apps", mode: .ambient) {
                Pod("sleep", serviceAccount: "sleep", node: "node-a", app: .client)
                Pod("httpbin", app: .echo(ports: [8000]))
                Service("httpbin", ports: [.port(80, target: 8000)])
            }
        }
        XCTAssertEqual(lab.apiVersion, LabSpec.currentVersion)
        XCTAssertEqual(lab.name, "demo")
        XCTAssertEqual(lab.at.line, line)
        XCTAssertEqual(lab.nodes.map(\.name), ["node-a"])
        let apps = lab.namespaces[0]
        XCTAssertEqual(apps.mode, .ambient)
        XCTAssertEqual(apps.pods.map(\.name), ["sleep", "httpbin"])
        XCTAssertEqual(apps.pods[1].serviceAccount, "default")
        XCTAssertEqual(apps.pods[1].labels, ["app": "httpbin"])
        XCTAssertNil(apps.pods[1].node)
        XCTAssertEqual(apps.pods[0].at.line, line + 3)
        XCTAssertEqual(apps.services[0].selector, ["app": "httpbin"])
        XCTAssertEqual(apps.services[0].ports, [ServicePort(80, targetPort: 8000)])
        XCTAssertTrue(apps.pods[0].at.file.hasSuffix("DSLTests.swift"))
    }

    func testLoopsAndConditionalsInBodies() {
        let withLegacy = true
        let lab = Lab("loops") {
            for index in 1...3 { Node("node-\(index)") }
            Namespace("a") {
                for index in 0..<4 { Pod("p\(index)") }
                if withLegacy { Pod("legacy") } else { Pod("modern") }
            }
            if !withLegacy { Namespace("never") }
        }
        XCTAssertEqual(lab.nodes.map(\.name), ["node-1", "node-2", "node-3"])
        XCTAssertEqual(lab.namespaces.map(\.name), ["a"])
        XCTAssertEqual(lab.namespaces[0].pods.map(\.name), ["p0", "p1", "p2", "p3", "legacy"])
    }

    func testSpecRoundTripsThroughJSON() throws {
        let lab = Lab("json") {
            Node("n")
            Namespace("x", mode: .sidecar) { Pod("e", app: .echo(ports: [80, 81])) }
        }
        let data = try JSONEncoder().encode(lab)
        XCTAssertEqual(try LabSpec.decode(data, file: "lab.json"), lab)
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.contains(#""apiVersion":"meshlab.dev\/v1alpha1""#), text)
    }

    func testUnknownModeInJSONNamesTheField() throws {
        let lab = Lab("json") { Node("n"); Namespace("x", mode: .ambient) }
        let text = String(decoding: try JSONEncoder().encode(lab), as: UTF8.self).replacingOccurrences(of: "\"ambient\"", with: "\"magic\"")
        XCTAssertThrowsError(try LabSpec.decode(Data(text.utf8), file: "lab.json")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("lab.json:1: error: namespaces[0].mode: unknown data-plane mode 'magic'"), message)
            XCTAssertTrue(message.contains("ambient, sidecar, none"), message)
        }
    }

    func testRegistryRecordsDeclaredLabs() {
        let before = LabRegistry.labs.count
        _ = Lab("registered") { Node("n") }
        XCTAssertEqual(LabRegistry.labs.count, before + 1)
        XCTAssertEqual(LabRegistry.labs.last?.name, "registered")
    }
}
