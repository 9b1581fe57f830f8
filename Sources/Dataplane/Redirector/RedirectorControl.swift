import Foundation
import Glibc
import Netns

/// What the orchestrator and checks ask a node's redirector (eBPF mode): attach programs, enroll or
/// release pods, (un)register ztunnel; or just read counters. One JSON line each way over a unix socket.
public struct RedirectorRequest: Codable, Sendable {
    public var attach: [Attachment]?
    public var enroll: [Enrollment]?
    public var release: [String]?
    public var ztunnelRegistered: Bool?

    public init(attach: [Attachment]? = nil, enroll: [Enrollment]? = nil, release: [String]? = nil, ztunnelRegistered: Bool? = nil) {
        self.attach = attach
        self.enroll = enroll
        self.release = release
        self.ztunnelRegistered = ztunnelRegistered
    }
}

/// A program to attach to a tc hook: `device`'s ingress or egress, inside `netns`.
public struct Attachment: Codable, Sendable {
    public var program: String
    public var netns: String
    public var device: String
    public var ingress: Bool

    public init(program: String, netns: String, device: String, ingress: Bool) {
        self.program = program
        self.netns = netns
        self.device = device
        self.ingress = ingress
    }
}

/// A pod to capture: its address, its host-side veth on the node, and its netns (for its MAC).
public struct Enrollment: Codable, Sendable {
    public var ip: String
    public var hostVeth: String
    public var netns: String

    public init(ip: String, hostVeth: String, netns: String) {
        self.ip = ip
        self.hostVeth = hostVeth
        self.netns = netns
    }
}

/// The redirector's answer: its counters, and what went wrong if anything did.
public struct RedirectorReport: Codable, Sendable {
    public var geneve: GeneveEndpoint.Counters?
    public var ebpf: [String: UInt64]?
    public var error: String?

    public init(geneve: GeneveEndpoint.Counters? = nil, ebpf: [String: UInt64]? = nil, error: String? = nil) {
        self.geneve = geneve
        self.ebpf = ebpf
        self.error = error
    }
}

public enum RedirectorControl {
    /// Sends one request to the node's redirector and returns its report (throwing its error).
    public static func request(_ request: RedirectorRequest = RedirectorRequest(), at path: String) throws -> RedirectorReport {
        let report = try JSONDecoder().decode(RedirectorReport.self, from: ControlSocket.request(request, at: path))
        if let error = report.error { throw NetnsError("redirector at \(path): \(error)") }
        return report
    }

    /// Answers requests on `path` from a thread of its own, one connection at a time. The socket is
    /// bound 0600: enrolling pods rewires their traffic, so only root may ask.
    public static func serve(path: String, _ handle: @escaping @Sendable (RedirectorRequest) -> RedirectorReport) throws {
        unlink(path)
        let fd = try PrivateFiles.bindingPrivately { try listeningSocket(path) }
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                let report = (try? JSONDecoder().decode(RedirectorRequest.self, from: readLine(client))).map(handle)
                    ?? RedirectorReport(error: "unreadable request")
                let line = ((try? JSONEncoder().encode(report)) ?? Data()) + Data("\n".utf8)
                _ = line.withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
                close(client)
            }
        }.start()
    }

    private static func listeningSocket(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NetnsError.errno("socket for \(path)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        _ = withUnsafeMutableBytes(of: &address.sun_path) { strncpy($0.baseAddress!.assumingMemoryBound(to: CChar.self), path, $0.count - 1) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0, listen(fd, 16) == 0 else {
            let error = NetnsError.errno("serve on \(path)")
            close(fd)
            throw error
        }
        return fd
    }

    private static func readLine(_ fd: Int32) throws -> Data {
        var data = Data()
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") { data.append(byte) }
        return data
    }
}
