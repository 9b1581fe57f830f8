import Assertions
import Foundation
import Glibc
import MeshLabRuntime

/// Progress of `meshlab test` on stderr: on a terminal, the running check on one line that its
/// result replaces; otherwise only the results, one per line (logs and CI stay clean).
struct LiveProgress {
    let terminal = isatty(STDERR_FILENO) == 1

    func show(_ progress: LabTesting.Progress) {
        switch progress {
        case .note(let text): say(clear + text)
        case .running(let check, let number, let total):
            if terminal { printError(inline: "\(clear)[\(number)/\(total)] \(check) …") }
        case .finished(let result): say(clear + Reporters.text(result))
        }
    }

    /// Erases the running line (carriage return + clear to end of line) on a terminal.
    private var clear: String { terminal ? "\r\u{1B}[K" : "" }

    private func printError(inline text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
