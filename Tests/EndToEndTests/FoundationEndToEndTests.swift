import Assertions
import Dataplane
import Foundation
import XCTest

/// The walking skeleton, end to end: real netns, veth, routes and processes, driven through the CLI.
final class FoundationEndToEndTests: XCTestCase {
    override func setUpWithError() throws {
        try Harness.requireRoot()
        continueAfterFailure = false
    }

    func testDefaultLabUpCallsExecAndDownLeavesNothing() throws {
        let before = try Harness.rootNetworkSnapshot()
        let up = try Harness.meshlab("up")
        XCTAssertTrue(up.stdout.contains("ambient    sleep-a"), up.stdout)
        XCTAssertTrue(up.stderr.contains("lab ambient-basic is up"), up.stderr)

        // Same node: sleep-a (10.244.0.2) → echo-a; cross node: sleep-a → echo-b over the underlay.
        let sameNode = try Harness.calls(from: "ambient/sleep-a", "http://10.244.0.3:8000/same", ["-n", "2"])
        XCTAssertEqual(sameNode.map { $0.reply?.pod }, ["ambient/echo-a", "ambient/echo-a"])
        XCTAssertEqual(sameNode.map { $0.reply?.sourceIP }, ["10.244.0.2", "10.244.0.2"])
        XCTAssertEqual(sameNode.first?.reply?.path, "/same")
        let crossNode = try Harness.calls(from: "ambient/sleep-a", "h2://10.244.1.3:8000/cross")
        let evidence = Evidence(calls: crossNode, events: [], callerIP: "10.244.0.2")
        XCTAssertTrue(evidence.answered(byAnyOf: ["ambient/echo-b"]).passed)
        XCTAssertFalse(evidence.answered(byAnyOf: ["ambient/echo-a"]).passed, "a verdict that cannot fail proves nothing")
        XCTAssertEqual(crossNode.first?.reply?.pod, "ambient/echo-b")
        XCTAssertEqual(crossNode.first?.reply?.node, "node-b")
        XCTAssertEqual(crossNode.first?.reply?.protocol, "h2c")
        XCTAssertEqual(crossNode.first?.reply?.sourceIP, "10.244.0.2")
        let rawTCP = try Harness.calls(from: "legacy/client", "tcp://10.244.1.4:8000", ["--payload", "65536"])
        XCTAssertEqual(rawTCP.first?.reply?.pod, "legacy/server")
        XCTAssertEqual(rawTCP.first?.echoIntact, true)

        // Nothing listens there, and no mesh is in the way: the kernel refuses, and the client says so.
        let refused = try Harness.calls(from: "legacy/client", "tcp://10.244.1.4:9999", expect: 1)
        XCTAssertEqual(refused.first?.outcome, .refused)

        // exec runs inside the pod's netns: it sees the pod's address, not the host's.
        let address = try Harness.meshlab("exec", "ambient/echo-b", "--", "ip", "-br", "addr", "show", "eth0")
        XCTAssertTrue(address.stdout.contains("10.244.1.3/32"), address.stdout)
        let nodeRoutes = try Harness.meshlab("exec", "node-a", "--", "ip", "route")
        XCTAssertTrue(nodeRoutes.stdout.contains("10.244.1.0/24 via 172.30.0.2 dev eth0"), nodeRoutes.stdout)

        let status = try Harness.meshlab("status", "--json")
        XCTAssertTrue(status.stdout.contains("\"lab\" : \"ambient-basic\""), status.stdout)

        try Harness.meshlab("down", "ambient-basic")
        XCTAssertEqual(try Harness.residue(of: "ambient-basic"), [])
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before)
    }

    func testTwoLabsWithTheSamePodNamesRunSideBySide() throws {
        // The same pods under another lab name, loaded from a lab file compiled on the fly.
        let twin = try Harness.twoNodeLabFile("twin", """
                Namespace("ambient", mode: .ambient) {
                    Pod("sleep-a", node: "node-a", app: .client)
                    Pod("echo-a", node: "node-a", app: .echo(ports: [8000]))
                    Pod("echo-b", node: "node-b", app: .echo(ports: [8000]))
                }
            """)
        try Harness.meshlab("up", "ambient-basic")
        defer { _ = try? Harness.meshlab("down", "ambient-basic", expect: nil) }
        try Harness.meshlab("up", twin)
        XCTAssertEqual(try Harness.calls(lab: "twin", from: "ambient/sleep-a", "http://10.244.1.2:8000").first?.reply?.pod, "ambient/echo-b")
        XCTAssertEqual(try Harness.calls(lab: "ambient-basic", from: "ambient/sleep-a", "http://10.244.1.3:8000").first?.reply?.pod, "ambient/echo-b")

        try Harness.meshlab("down", "twin")
        XCTAssertEqual(try Harness.residue(of: "twin"), [])
        // The other lab is untouched by its twin's removal.
        XCTAssertEqual(try Harness.calls(lab: "ambient-basic", from: "ambient/sleep-a", "http://10.244.0.3:8000").first?.reply?.pod, "ambient/echo-a")
        try Harness.meshlab("down", "ambient-basic")
        XCTAssertEqual(try Harness.residue(of: "ambient-basic"), [])
    }

    func testKilledUpIsRemovedByClean() throws {
        // Big enough that SIGKILL lands while echo processes are still being started.
        let spec = try Harness.twoNodeLabFile("crash", settings: "LabSettings(nodePodPrefix: 22)", """
                Namespace("apps") {
                    for index in 0..<300 { Pod("bare-\\(index)") }
                    for index in 0..<40 { Pod("echo-\\(index)", app: .echo(ports: [8000])) }
                }
            """)
        // Compile it to JSON first so the kill does not land in the compiler.
        let json = try Harness.meshlab("spec", spec).stdout
        let specFile = try Harness.temporaryFile("crash.json", json)
        let before = try Harness.rootNetworkSnapshot()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Harness.binary)
        process.arguments = ["up", specFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        func echoStarted() throws -> Bool { try Harness.residue(of: "crash").contains { $0.hasPrefix("process") } }
        while try process.isRunning && !echoStarted() { usleep(500) }
        XCTAssertTrue(process.isRunning, "up finished before it could be killed halfway")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertFalse(try Harness.residue(of: "crash").isEmpty, "the crash should have left something to clean")

        let clean = try Harness.meshlab("clean")
        XCTAssertTrue(clean.stderr.contains("removed: crash"), clean.stderr)
        XCTAssertEqual(try Harness.residue(of: "crash"), [])
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before)
    }

    func testCleanRemovesLabsWhoseStateIsGoneAndNothingElse() throws {
        let foreign = "meshlab-e2e-foreign-\(getpid())"
        try Harness.run("ip", ["netns", "add", foreign])
        defer { _ = try? Harness.run("ip", ["netns", "del", foreign]) }
        try Harness.meshlab("up", "ambient-basic")
        defer { _ = try? Harness.meshlab("clean", expect: nil) }
        // Lose the state directory, as a reboot-less `rm -rf /run/meshlab` would.
        try FileManager.default.removeItem(atPath: "/run/meshlab/ambient-basic")
        XCTAssertFalse(try Harness.residue(of: "ambient-basic").isEmpty)

        let clean = try Harness.meshlab("clean")
        XCTAssertTrue(clean.stderr.contains("removed: ambient-basic"), clean.stderr)
        XCTAssertEqual(try Harness.residue(of: "ambient-basic"), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(foreign)"), "clean removed a netns MeshLab did not make")
    }

    func testLabFileErrorsNameFileAndLineAndCreateNothing() throws {
        let before = try Harness.rootNetworkSnapshot()
        let invalid = try Harness.temporaryFile("invalid.swift", """
            import MeshLab

            let lab = Lab("invalid") {
                Node("node-a")
                Namespace("apps") {
                    Pod("web", node: "node-z", app: .echo(ports: [8000]))
                }
            }
            """)
        let failed = try Harness.meshlab("up", invalid, expect: 2)
        XCTAssertTrue(failed.stderr.contains("\(invalid):6: error: pod 'apps/web' runs on unknown node 'node-z'"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("hint: declare Node(\"node-z\")"), failed.stderr)

        let broken = try Harness.temporaryFile("broken.swift", """
            import MeshLab

            let lab = Lab("broken") {
                Node("node-a")
                Pod("stray")
            }
            """)
        let compileError = try Harness.meshlab("up", broken, expect: 1)
        XCTAssertTrue(compileError.stderr.contains("\(broken):5:"), compileError.stderr)
        XCTAssertTrue(compileError.stderr.contains("a Pod belongs inside a Namespace"), compileError.stderr)

        // A file that compiles but declares no lab (as a helper file would) says so and shows the line to add.
        let empty = try Harness.temporaryFile("helpers.swift", """
            import MeshLab

            let nodeNames = ["node-a", "node-b"]
            """)
        let noLab = try Harness.meshlab("test", empty, expect: 1)
        XCTAssertTrue(noLab.stderr.contains("\(empty) declares no lab"), noLab.stderr)
        XCTAssertTrue(noLab.stderr.contains("let lab = Lab(\"helpers\") {"), noLab.stderr)

        XCTAssertEqual(try Harness.residue(of: "invalid") + (try Harness.residue(of: "broken")), [])
        XCTAssertEqual(try Harness.rootNetworkSnapshot(), before)
    }
}
