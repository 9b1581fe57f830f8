import Foundation
import Synchronization

/// Every `Lab(...)` a process evaluates is declared here.
///
/// A lab file outside the package is compiled as a small program and run with
/// `MESHLAB_EMIT_SPEC=<path>` set (as SwiftPM runs a Package.swift); at exit the
/// labs it declared are written to that path as JSON.
public enum LabRegistry {
    public static let emitEnvironmentKey = "MESHLAB_EMIT_SPEC"

    private static let declared = Mutex<[LabSpec]>([])

    static func declare(_ lab: LabSpec) {
        let isFirst = declared.withLock { labs in
            labs.append(lab)
            return labs.count == 1
        }
        if isFirst, ProcessInfo.processInfo.environment[emitEnvironmentKey] != nil {
            atexit { LabRegistry.emit() }
        }
    }

    public static var labs: [LabSpec] { declared.withLock { $0 } }

    private static func emit() {
        guard let path = ProcessInfo.processInfo.environment[emitEnvironmentKey] else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(labs) else { return }
        FileManager.default.createFile(atPath: path, contents: data)
    }
}
