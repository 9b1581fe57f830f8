import Foundation
import MeshLab

/// Compiles a lab file as a small program against libMeshLab (as SwiftPM compiles a Package.swift),
/// runs it, and reads back the labs it declared. Compiler errors keep their `file:line`.
package struct LabCompiler {
    /// Beside the `meshlab` binary: `Modules/MeshLab.swiftmodule` and `libMeshLab.so`.
    package let buildDirectory = URL(fileURLWithPath: Orchestrator.executable).deletingLastPathComponent()

    package func evaluate(_ path: String) throws -> [LabSpec] {
        let modules = buildDirectory.appendingPathComponent("Modules")
        let library = buildDirectory.appendingPathComponent("libMeshLab.so")
        guard FileManager.default.fileExists(atPath: library.path) else {
            throw MeshLabError("cannot compile lab files: \(library.path) is missing",
                           hint: "build it with `swift build --product MeshLab` next to meshlab")
        }
        guard let swiftc = swiftCompiler() else {
            throw MeshLabError("cannot compile lab files: swiftc is not on PATH", hint: "install Swift or put its bin/ on PATH")
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-lab-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let program = work.appendingPathComponent("lab")
        let compile = try run(swiftc, [
            "-module-name", "LabFile", "-I", modules.path, "-L", buildDirectory.path, "-lMeshLab",
            "-Xlinker", "-rpath", "-Xlinker", buildDirectory.path,
            "-module-cache-path", work.appendingPathComponent("cache").path,
            "-o", program.path, path,
        ])
        guard compile.status == 0 else {
            let diagnostics = compile.output.split(separator: "\n").filter { $0.contains(": error: ") || $0.contains(": warning: ") }
            throw MeshLabError("\(path) does not compile:\n" + (diagnostics.isEmpty ? compile.output : diagnostics.joined(separator: "\n")),
                           hint: "fix the lab file at the lines above")
        }
        let output = work.appendingPathComponent("labs.json")
        let evaluation = try run(program.path, [], environment: [LabRegistry.emitEnvironmentKey: output.path])
        guard evaluation.status == 0 else {
            let said = evaluation.output.isEmpty ? "it exited with status \(evaluation.status) and printed nothing" : evaluation.output
            throw MeshLabError("\(path) failed while declaring its lab:\n\(said)", hint: "fix the lab file")
        }
        // The program writes the labs it declared at exit; with none declared it writes nothing.
        guard let data = FileManager.default.contents(atPath: output.path) else { return [] }
        return try JSONDecoder().decode([LabSpec].self, from: data)
    }

    private func swiftCompiler() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return (path.split(separator: ":").map(String.init) + ["/opt/swift/usr/bin", "/usr/bin"])
            .map { "\($0)/swiftc" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
