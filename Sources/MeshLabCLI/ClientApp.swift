import ArgumentParser
import Dataplane
import Foundation
import NIOCore
import NIOPosix
import Netns

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

    @Option(help: "Raw TCP: how many calls may be open at once (default: one after another).")
    var concurrency = 1

    @Flag(help: "Raw TCP: open every connection, echo once, print `held`, wait for stdin to close, then send again (a change is made meanwhile).")
    var holdUntilInput = false

    @Option(help: "A marker to send in every call (raw TCP payload, HTTP header x-meshlab-canary), to look for on the wire.")
    var canary: String?

    @Option(help: "HTTP load instead of calls: keep-alive connections for this many seconds, printing one LoadSummary line.")
    var duration: Double?

    @Option(help: "HTTP load: requests per second in total (default: as fast as answers come).")
    var rate: Double?

    @Option(help: "HTTP load: keep-alive connections.")
    var connections = 1

    @Flag(help: "Print one summary line instead of a line per call.")
    var summary = false

    @Option(help: "HTTP method (default: GET, or POST with a payload).")
    var method: String?

    @Option(name: .customLong("header"), help: "An extra HTTP header as name:value (repeatable).")
    var headers: [String] = []

    func run() throws {
        let client = try parse()
        raiseOpenFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: concurrency > 1 || connections > 1 ? 2 : 1)
        defer { try? group.syncShutdownGracefully() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        func line<T: Encodable>(_ value: T) { print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)) }
        if let duration {
            guard client.protocol == .http else { throw ValidationError("--duration works with http:// targets") }
            let load = LoadGenerator(host: client.host, port: client.port, connections: connections, rate: rate,
                                     duration: .milliseconds(Int64(duration * 1000)))
            let summary = try load.run(group: group)
            line(summary)
            if summary.errors > 0 || summary.requests == 0 { throw ExitCode(1) }
            return
        }
        let results: [CallResult]
        if holdUntilInput {
            guard client.protocol == .tcp else { throw ValidationError("--hold-until-input works with tcp:// targets") }
            results = client.runHeld(count: count, group: group) {
                FileHandle.standardOutput.write(Data("held\n".utf8))
                while readLine() != nil {}
            }
            if !summary { for result in results { line(result) } }
        } else if concurrency > 1 {
            guard client.protocol == .tcp else { throw ValidationError("--concurrency works with tcp:// targets") }
            results = client.runConcurrently(count: count, concurrency: concurrency, group: group)
            if !summary { for result in results { line(result) } }
        } else {
            results = client.run(count: count, group: group) { if !summary { line($0) } }
        }
        if summary { line(CallSummary(results)) }
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
                             hold: .milliseconds(Int64(hold * 1000)), canary: canary, method: method)
    }
}
