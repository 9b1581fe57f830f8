import ArgumentParser
import Dataplane
import Foundation
import NIOCore
import NIOPosix

struct ClientApp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "The bundled client: make calls and print each result as a JSON line.",
        discussion: "TARGET is http://IP:PORT/path, h2://IP:PORT/path, tcp://IP:PORT or IP:PORT. Exit status 0 only if every call succeeded.")

    @Argument(help: "Where to call.")
    var target: String

    @Option(name: [.customShort("n"), .customLong("count")], help: "Number of calls, each on a new connection.")
    var count = 1

    @Option(help: "Bytes to send: the HTTP body, or the raw TCP payload echoed back.")
    var payload = 0

    @Option(help: "Seconds before a call counts as timed out.")
    var timeout = 5.0

    @Option(help: "Raw TCP: seconds to hold each connection open after sending (a long-lived connection).")
    var hold = 0.0

    @Option(name: .customLong("header"), help: "An extra HTTP header as name:value (repeatable).")
    var headers: [String] = []

    func run() throws {
        let client = try parse()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let results = client.run(count: count, group: group) { result in
            print(String(decoding: (try? encoder.encode(result)) ?? Data(), as: UTF8.self))
        }
        if !results.allSatisfy(\.ok) { throw ExitCode(1) }
    }

    private func parse() throws -> TrafficClient {
        var rest = Substring(target)
        var proto = TrafficClient.Scheme.http
        if let scheme = rest.range(of: "://") {
            guard let parsed = TrafficClient.Scheme(rawValue: String(rest[..<scheme.lowerBound])) else {
                throw ValidationError("unknown scheme in \(target): use http, h2 or tcp")
            }
            proto = parsed
            rest = rest[scheme.upperBound...]
        }
        let path = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        let authority = rest.prefix { $0 != "/" }
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) else {
            throw ValidationError("\(target) has no port: write it as IP:PORT")
        }
        let extra = try headers.map { header -> (String, String) in
            guard let split = header.firstIndex(of: ":") else { throw ValidationError("header \(header) is not name:value") }
            return (String(header[..<split]), String(header[header.index(after: split)...]).trimmingCharacters(in: .whitespaces))
        }
        return TrafficClient(host: String(authority[..<colon]), port: port, protocol: proto, path: path,
                             payloadSize: payload, timeout: .milliseconds(Int64((timeout + hold) * 1000)), headers: extra,
                             hold: .milliseconds(Int64(hold * 1000)))
    }
}
