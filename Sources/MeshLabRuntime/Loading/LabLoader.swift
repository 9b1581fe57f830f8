import Foundation
import Labs
import MeshLab

/// Finds the lab a command names: a built-in lab's name, a file in the package's labs/, or any
/// other lab file (compiled on the fly against the MeshLab library), or a LabSpec JSON document.
package struct LabLoader {
    package var progress: (String) -> Void

    package init(progress: @escaping (String) -> Void = { _ in }) { self.progress = progress }

    package func load(_ argument: String?) throws -> (spec: LabSpec, source: String) {
        let name = argument ?? LabCatalog.defaultLab
        if let builtIn = LabCatalog.lab(named: name) { return (builtIn, name) }
        guard name.hasSuffix(".swift") || name.hasSuffix(".json") || name.contains("/") else {
            throw MeshLabError("no built-in lab named '\(name)'",
                           hint: "built-in labs: \(LabCatalog.all.map(\.name).joined(separator: ", ")); or give a path to a lab file")
        }
        let path = URL(fileURLWithPath: name).standardizedFileURL.resolvingSymlinksInPath().path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MeshLabError("lab file \(name) does not exist", hint: "check the path")
        }
        if path.hasSuffix(".json") {
            return (try LabSpec.decode(try Data(contentsOf: URL(fileURLWithPath: path)), file: path), path)
        }
        if let builtIn = LabCatalog.all.first(where: { Self.samePath($0.at.file, path) }), !Self.isNewerThanBinary(path) {
            return (builtIn, builtIn.name)
        }
        progress("compiling \(name)")
        let labs = try LabCompiler().evaluate(path)
        guard labs.count == 1, let lab = labs.first else {
            if labs.isEmpty {
                let suggested = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                throw MeshLabError("\(name) declares no lab: it ran, but no `Lab(…)` was evaluated at its top level",
                               hint: "add one at the top level of the file, for example:\n\n"
                                   + "        let lab = Lab(\"\(suggested)\") {\n            Node(\"node-a\")\n            Namespace(\"demo\", mode: .ambient) { Pod(\"sleep\", app: .client) }\n        }\n")
            }
            throw MeshLabError("\(name) declares \(labs.count) labs: \(labs.map(\.name).joined(separator: ", "))",
                           hint: "a lab file declares exactly one `let lab = Lab(\"name\") { … }`")
        }
        return (lab, path)
    }

    package static func samePath(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).resolvingSymlinksInPath().path == URL(fileURLWithPath: b).resolvingSymlinksInPath().path
    }

    /// A built-in lab file edited since `meshlab` was built must be compiled afresh.
    package static func isNewerThanBinary(_ path: String) -> Bool {
        let attributes = { (p: String) in (try? FileManager.default.attributesOfItem(atPath: p))?[.modificationDate] as? Date }
        guard let file = attributes(path), let binary = attributes(Orchestrator.executable) else { return false }
        return file > binary
    }
}
