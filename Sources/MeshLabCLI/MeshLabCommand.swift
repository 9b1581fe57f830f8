import ArgumentParser
import Foundation
import MeshLab
import MeshLabRuntime
import Netns

/// The `meshlab` subcommands this module holds; the executable adds the benchmarks between them.
public enum MeshLabCommands {
    /// What users run: bring labs up and down, change, check, inspect and trace them.
    public static let lab: [ParsableCommand.Type] = [
        Up.self, Down.self, Apply.self, TestCommand.self, Replay.self, Trace.self, Status.self, Exec.self, Clean.self, Spec.self, Graph.self, Doctor.self,
    ]
    /// Inspecting and restarting a running ztunnel, and the bundled processes' entry points (`up` starts them).
    public static let dataplane: [ParsableCommand.Type] = [
        ZTunnelConfig.self, ZTunnelRestart.self, EchoApp.self, ClientApp.self, ZTunnelApp.self, RedirectorApp.self, WaypointApp.self, SidecarApp.self,
    ]
}

/// Runs a command body and prints failures the way a user can act on them:
/// lab errors (exit 2, with file:line) and every other error (exit 1).
package func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let errors as LabErrors {
        printError(errors.description)
        throw ExitCode(2)
    } catch let error as NetnsError {
        printError("error: \(error)\n    hint: `meshlab doctor` shows what this kernel supports, `meshlab clean` removes leftovers of crashed labs")
        throw ExitCode(1)
    } catch {
        printError(error is MeshLabError ? "\(error)" : "error: \(error)")
        throw ExitCode(1)
    }
}

package func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Progress lines on stderr, so stdout stays clean for tables and JSON.
package func say(_ text: String) { printError(text) }
