import Assertions
import Foundation
import Glibc
import MeshLab
import Netns

/// Everything needed to understand or file a failed run, in one .tar.gz: the lab file and LabSpec
/// (what `meshlab replay` brings up again), topology, plan and state, the verdicts, every process
/// log, the captures, and per netns the iptables rules with counters, the conntrack table and the
/// links, addresses, routes and rules — read from the running lab before it goes down.
package enum EvidenceBundle {
    package static let specFile = "spec.json"
    package static let reportFile = "report.json"

    /// Writes `<folder>/meshlab-<lab>-<time>.tar.gz` and returns its path.
    package static func write(lab: String, report: LabReport, to folder: String) throws -> String {
        let directory = StateDirectory(lab: lab)
        let staging = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-bundle-\(lab)-\(getpid())")
        try? FileManager.default.removeItem(at: staging)
        defer { try? FileManager.default.removeItem(at: staging) }
        let manager = FileManager.default
        try manager.createDirectory(at: staging, withIntermediateDirectories: true)

        // A bundle goes into bug reports: everything enters it through `copyWithoutKeys` or `writeWithoutKeys`.
        for name in ["spec.json", "topology.json", "plan.json", "state.json"] where manager.fileExists(atPath: directory.file(name).path) {
            try copyWithoutKeys(directory.file(name), to: staging.appendingPathComponent(name))
        }
        for folder in ["logs", "captures"] where manager.fileExists(atPath: directory.file(folder).path) {
            try copyWithoutKeys(directory.file(folder), to: staging.appendingPathComponent(folder))
        }
        let state = try directory.state()
        if state.source.hasSuffix(".swift"), manager.fileExists(atPath: state.source) {
            try copyWithoutKeys(URL(fileURLWithPath: state.source).resolvingSymlinksInPath(), to: staging.appendingPathComponent("lab.swift"))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try writeWithoutKeys(encoder.encode(report), to: staging.appendingPathComponent(reportFile))

        for (folder, dump) in [("rules", rules), ("conntrack", conntrack), ("net", network)] {
            let target = staging.appendingPathComponent(folder)
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            let texts = try DedicatedThread.parallel(state.netns) { netns in (try? dump(netns)) ?? "(could not read \(netns))\n" }
            for (netns, text) in zip(state.netns, texts) {
                try writeWithoutKeys(Data(text.utf8), to: target.appendingPathComponent("\(netns).txt"))
            }
        }
        try Data(readme(lab: lab, report: report).utf8).write(to: staging.appendingPathComponent("README.txt"))

        let stamp = ISO8601DateFormatter.string(from: Date(), timeZone: .current, formatOptions: [.withYear, .withMonth, .withDay, .withTime])
        let path = URL(fileURLWithPath: folder).appendingPathComponent("meshlab-\(lab)-\(stamp).tar.gz").path
        let tar = try NetnsCommand.runHere("tar", ["-czf", path, "-C", staging.path, "."])
        guard tar.status == 0 else { throw MeshLabError("could not write the evidence bundle \(path): \(tar.output)", hint: "check that the folder is writable") }
        return path
    }

    /// Unpacks a bundle into a new temporary folder and returns it.
    package static func unpack(_ bundle: String) throws -> URL {
        guard FileManager.default.fileExists(atPath: bundle) else {
            throw MeshLabError("no evidence bundle at \(bundle)", hint: "`meshlab test` writes one when a check fails (or with --bundle)")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("meshlab-replay-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tar = try NetnsCommand.runHere("tar", ["-xzf", bundle, "-C", folder.path])
        guard tar.status == 0, FileManager.default.fileExists(atPath: folder.appendingPathComponent(specFile).path) else {
            try? FileManager.default.removeItem(at: folder)
            throw MeshLabError("\(bundle) is not a MeshLab evidence bundle: \(tar.output.isEmpty ? "it has no \(specFile)" : tar.output)",
                           hint: "pass the .tar.gz that `meshlab test` wrote")
        }
        return folder
    }

    private static func rules(_ netns: String) throws -> String {
        try NetnsCommand.run("iptables-save", ["-c"], in: netns).output
    }

    private static func conntrack(_ netns: String) throws -> String {
        try Conntrack.dump(in: netns).map { "\($0)\n" }.joined()
    }

    private static func network(_ netns: String) throws -> String {
        try NetnsCommand.run("sh", ["-c", "ip -d addr; echo; ip route show table all; echo; ip rule"], in: netns).output
    }

    private static func readme(lab: String, report: LabReport) -> String {
        let failed = report.checks.filter { !$0.passed }
        return """
            MeshLab evidence bundle for lab \(lab), written \(Date()).
            \(failed.count) of \(report.checks.count) checks failed\(failed.isEmpty ? "" : ":\n" + failed.map { "  - \($0.name) (\($0.at))" }.joined(separator: "\n"))

            Bring the same lab up again and rerun its checks:   meshlab replay <this file>
            spec.json     the lab as it ran (LabSpec); lab.swift is the lab file when there was one
            report.json   every verdict: expected, actual, evidence
            logs/         every process's log (ztunnel access logs are JSON lines)
            captures/     packet captures (pcap, open with Wireshark or tshark)
            rules/        iptables-save -c per network namespace
            conntrack/    the conntrack table per network namespace
            net/          addresses, routes and rules per network namespace

            It holds no private key: key files are left out, and a PEM private key block found in
            any file is overwritten with \(PrivateKeyRedaction.marker) (same length, so pcaps stay readable).

            """
    }
}

package extension EvidenceBundle {
    /// Copies a file, or a folder recursively, leaving out key files (`*key.pem`, `*.key`) and
    /// overwriting every PEM private key block in what it copies: the lab CA's key would let whoever
    /// reads a bug report mint any identity of the mesh, and a process log or a capture may hold a key.
    package static func copyWithoutKeys(_ source: URL, to target: URL) throws {
        let manager = FileManager.default
        let attributes = try manager.attributesOfItem(atPath: source.path)
        switch attributes[.type] as? FileAttributeType {
        case .typeDirectory?:
            try manager.createDirectory(at: target, withIntermediateDirectories: true)
            for name in try manager.contentsOfDirectory(atPath: source.path) {
                try copyWithoutKeys(source.appendingPathComponent(name), to: target.appendingPathComponent(name))
            }
        case .typeRegular?:
            guard !PrivateKeyRedaction.isKeyFile(source.lastPathComponent) else { return }
            let data = try Data(contentsOf: source, options: .alwaysMapped)
            if let redacted = PrivateKeyRedaction.redact(data) {
                try redacted.write(to: target)
            } else {
                try manager.copyItem(at: source, to: target)
            }
        default:
            return  // sockets, and links that could point at a key: nothing a reader needs
        }
    }

    /// What the bundle makes itself (verdicts with the evidence they quote, per-netns dumps), redacted the same way.
    package static func writeWithoutKeys(_ data: Data, to target: URL) throws {
        try (PrivateKeyRedaction.redact(data) ?? data).write(to: target)
    }
}

/// Finds PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`,
/// also JSON-escaped in a log line, or cut short in a capture) and overwrites them byte for byte.
package enum PrivateKeyRedaction {
    package static let marker = "[private key removed]"
    private static let begin = Array("-----BEGIN ".utf8), end = Array("-----END ".utf8)
    private static let dashes = Array("-----".utf8), label = Array("PRIVATE KEY".utf8)

    package static func isKeyFile(_ name: String) -> Bool {
        name.hasSuffix("key.pem") || name.hasSuffix(".key")
    }

    /// The data with every private key block overwritten, or nil when it holds none.
    package static func redact(_ data: Data) -> Data? {
        // Most files hold none: look in the mapped file before copying it into memory.
        let mentioned = data.withUnsafeBytes { find(label, in: $0, from: 0) != nil }
        guard mentioned else { return nil }
        var bytes = [UInt8](data)
        var ranges: [Range<Int>] = []
        var position = 0
        while let start = find(begin, in: bytes, from: position) {
            guard let close = find(dashes, in: bytes, from: start + begin.count), isPrivateKeyLabel(bytes[(start + begin.count)..<close]) else {
                position = start + begin.count
                continue
            }
            let body = close + dashes.count
            var stop = bodyEnd(bytes, from: body)
            if bytes[stop...].starts(with: end), let endClose = find(dashes, in: bytes, from: stop + end.count),
               isPrivateKeyLabel(bytes[(stop + end.count)..<endClose]) {
                stop = endClose + dashes.count
            }
            ranges.append(start..<stop)
            position = stop
        }
        // An END line whose BEGIN was cut off (a capture that starts mid-key): the key text before it goes too.
        position = 0
        while let start = find(end, in: bytes, from: position) {
            position = start + end.count
            guard !ranges.contains(where: { $0.contains(start) }), let close = find(dashes, in: bytes, from: position),
                  isPrivateKeyLabel(bytes[position..<close]) else { continue }
            var first = start
            while first > 0, isBody(bytes[first - 1]), !ranges.contains(where: { $0.contains(first - 1) }) { first -= 1 }
            ranges.append(first..<(close + dashes.count))
        }
        guard !ranges.isEmpty else { return nil }
        for range in ranges { overwrite(&bytes, range) }
        return Data(bytes)
    }

    /// `PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`…: capitals and spaces ending in PRIVATE KEY.
    private static func isPrivateKeyLabel(_ text: ArraySlice<UInt8>) -> Bool {
        (label.count...40).contains(text.count) && text.suffix(label.count).elementsEqual(label)
            && text.allSatisfy { $0 == UInt8(ascii: " ") || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    /// Base64, whitespace, and the backslashes of a JSON-escaped `\n`; not a final lone backslash,
    /// which may escape the quote after it.
    private static func bodyEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index < bytes.count, isBody(bytes[index]) { index += 1 }
        if index > start, bytes[index - 1] == UInt8(ascii: "\\") { index -= 1 }
        return index
    }

    private static func isBody(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "\\"), UInt8(ascii: " "), UInt8(ascii: "\t"),
             UInt8(ascii: "\n"), UInt8(ascii: "\r"): true
        default: false
        }
    }

    /// The marker, then asterisks; line breaks stay where they were, so line-based logs keep their lines.
    private static func overwrite(_ bytes: inout [UInt8], _ range: Range<Int>) {
        var fill = Array(marker.utf8)[...]
        for index in range where bytes[index] != UInt8(ascii: "\n") && bytes[index] != UInt8(ascii: "\r") {
            bytes[index] = fill.popFirst() ?? UInt8(ascii: "*")
        }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        bytes.withUnsafeBytes { find(needle, in: $0, from: start) }
    }

    /// memchr for the first byte, memcmp for the rest (Glibc's Swift module has no memmem).
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var position = start
        while position + needle.count <= bytes.count {
            guard let hit = memchr(base + position, Int32(needle[0]), bytes.count - needle.count + 1 - position) else { return nil }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            if needle.withUnsafeBytes({ memcmp(base + offset, $0.baseAddress!, needle.count) }) == 0 { return offset }
            position = offset + 1
        }
        return nil
    }
}
