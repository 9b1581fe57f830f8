import ArgumentParser
import Foundation
import MeshLab
import Netns

/// `meshlab`: declarative test labs for the Istio ambient data plane.
public struct MeshLabCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "meshlab",
        abstract: "Build Istio ambient data-plane test labs from Swift lab files, in real network namespaces.",
        subcommands: [
            Up.self, Down.self, Apply.self, TestCommand.self, Replay.self, Trace.self, Status.self, Exec.self, Clean.self, Spec.self, Graph.self, Doctor.self, Bench.self,
            ZTunnelConfig.self, ZTunnelRestart.self, EchoApp.self, ClientApp.self, ZTunnelApp.self, RedirectorApp.self, WaypointApp.self, SidecarApp.self,
        ])

    public init() {}
}

/// Runs a command body and prints failures the way a user can act on them:
/// lab errors (exit 2, with file:line) and every other error (exit 1).
func reportingErrors(_ body: () throws -> Void) throws {
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
        printError(error is CLIError ? "\(error)" : "error: \(error)")
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Progress lines on stderr, so stdout stays clean for tables and JSON.
func say(_ text: String) { printError(text) }
