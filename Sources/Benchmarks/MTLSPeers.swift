import Dataplane
import Foundation
import MeshLab
import MeshLabCLI
import MeshLabRuntime
import Netns

/// The benchmark's comparison points: an stunnel pair and an haproxy pair doing mutual TLS 1.3 with
/// certificates from the lab CA, between the plain client and echo pods. Each pair's client end
/// listens on the client pod's loopback. Processes live in lab netns, so `down` removes them too.
struct MTLSPeers {
    struct Peer {
        var name: String
        var localPort: Int
        /// Both ends' processes (`ip netns exec` execs the tool, so these are its PIDs).
        var pids: [Int32]
    }

    private(set) var started: [Peer] = []
    private(set) var missing: [String] = []
    private var processes: [Process] = []
    private let logs: URL

    init(directory: StateDirectory, topology: Topology) throws {
        let folder = directory.file("peers")
        logs = directory.logs
        try PrivateFiles.makeDirectory(folder.path)  // it holds an issued key
        let authority = try ControlPlane(directory: directory).authority()
        let write = { (name: String, text: String) -> String in
            let url = folder.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let root = try write("root.pem", authority.certificatePEM)
        let identity = SpiffeID(trustDomain: topology.settings.trustDomain, namespace: "plain", serviceAccount: "default")
        let issued = try authority.issue(for: identity)
        let writeKey = { (name: String, text: String) -> String in
            let path = folder.appendingPathComponent(name).path
            try PrivateFiles.write(text, to: path)
            return path
        }
        let cert = try write("peer.pem", issued.certificatePEM), key = try writeKey("peer-key.pem", issued.keyPEM)
        let bundle = try writeKey("peer-bundle.pem", issued.certificatePEM + "\n" + issued.keyPEM + "\n")
        let client = topology.pod("plain/client")!, echo = topology.pod("plain/echo")!

        if KernelProbe.which("stunnel") != nil {
            let tls = "cert = \(cert)\nkey = \(key)\nCAfile = \(root)\nverifyChain = yes\nsslVersionMin = TLSv1.3\n"
            let server = try write("stunnel-server.conf", "foreground = yes\npid =\n[hbone]\naccept = 0.0.0.0:9443\nconnect = 127.0.0.1:9000\nrequireCert = yes\n" + tls)
            let near = try write("stunnel-client.conf", "foreground = yes\npid =\n[hbone]\nclient = yes\naccept = 127.0.0.1:9100\nconnect = \(echo.ip):9443\n" + tls)
            let pids = [try start(["stunnel", server], in: echo.netns, port: 9443), try start(["stunnel", near], in: client.netns, port: 9100)]
            started.append(Peer(name: "stunnel mTLS", localPort: 9100, pids: pids))
        } else {
            missing.append("stunnel")
        }
        if KernelProbe.which("haproxy") != nil {
            let defaults = "global\n  maxconn 4000\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n"
            let tls = "ssl crt \(bundle) ca-file \(root) verify required ssl-min-ver TLSv1.3"
            let server = try write("haproxy-server.cfg", defaults +
                "frontend tls\n  bind 0.0.0.0:9444 \(tls)\n  default_backend echo\nbackend echo\n  server local 127.0.0.1:9000\n")
            let near = try write("haproxy-client.cfg", defaults +
                "frontend local\n  bind 127.0.0.1:9200\n  default_backend remote\nbackend remote\n  server echo \(echo.ip):9444 \(tls)\n")
            let pids = [try start(["haproxy", "-f", server], in: echo.netns, port: 9444), try start(["haproxy", "-f", near], in: client.netns, port: 9200)]
            started.append(Peer(name: "haproxy mTLS", localPort: 9200, pids: pids))
        } else {
            missing.append("haproxy")
        }
    }

    /// Starts a tool inside a netns and waits until it accepts on `port` there; returns its PID.
    private mutating func start(_ command: [String], in netns: String, port: Int) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", netns] + command
        let log = logs.appendingPathComponent("\(command[0])-\(netns).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        processes.append(process)
        for _ in 0..<100 {
            let probe = try NetnsCommand.run("bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"], in: netns)
            if probe.status == 0 { return process.processIdentifier }
            usleep(50_000)
        }
        throw MeshLabError("\(command[0]) did not start listening on :\(port) in \(netns):\n\(NetnsProcess.logTail(log.path))",
                       hint: "run it by hand with `ip netns exec \(netns)` to see why")
    }

    func stop() {
        for process in processes where process.isRunning { process.terminate() }
    }
}
