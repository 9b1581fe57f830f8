import Netns

/// Packet counters of the iptables rules in one netns (`iptables-save -c`), to show which rule
/// captured a connection: the rules whose counters moved between two readings.
public struct RuleCounters: Sendable {
    /// `table chain rule` → packets.
    public var packets: [String: Int]

    public static func read(in netns: String) throws -> RuleCounters {
        let save = try NetnsCommand.run("iptables-save", ["-c"], in: netns)
        var table = "", packets: [String: Int] = [:]
        for line in save.output.split(separator: "\n") {
            if line.hasPrefix("*") { table = String(line.dropFirst()) }
            // [packets:bytes] -A CHAIN spec…
            guard line.hasPrefix("["), let close = line.firstIndex(of: "]") else { continue }
            let count = Int(line[line.index(after: line.startIndex)..<close].split(separator: ":").first ?? "") ?? 0
            let rule = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
            packets["\(table) \(rule)"] = count
        }
        return RuleCounters(packets: packets)
    }

    /// Rules that counted packets since `earlier`, with how many.
    public func moved(since earlier: RuleCounters) -> [(rule: String, packets: Int)] {
        packets.compactMap { rule, count in
            let delta = count - (earlier.packets[rule] ?? 0)
            return delta > 0 ? (rule, delta) : nil
        }.sorted { $0.rule < $1.rule }
    }
}
