import Foundation
import Glibc

/// What this machine's kernel and tools can do, found by trying it once in a scratch netns.
public struct KernelProbe: Sendable {
    public struct Finding: Sendable, CustomStringConvertible {
        public var feature: String
        public var available: Bool
        /// What it means for MeshLab when missing, or how it is provided.
        public var detail: String

        public var description: String { "\(available ? "yes" : "no ") \(feature): \(detail)" }
    }

    public var findings: [Finding]

    public func has(_ feature: String) -> Bool { findings.first { $0.feature == feature }?.available ?? false }

    /// Probes in a scratch netns with no name, so nothing is created in the root netns and nothing
    /// is left behind when the process dies mid-probe (see `NetworkNamespace.scratch`).
    public static func run() throws -> KernelProbe {
        var findings: [Finding] = []
        let root = geteuid() == 0
        findings.append(Finding(feature: "root", available: root,
                                detail: root ? "running as root" : "MeshLab creates network namespaces: run it as root (sudo)"))
        guard root else { return KernelProbe(findings: findings) }
        findings.append(contentsOf: try DedicatedThread.run { try probeInScratchNetns() })
        for tool in ["iptables-restore", "iptables-save", "ip"] {
            let path = which(tool)
            findings.append(Finding(feature: tool, available: path != nil,
                                    detail: path ?? "not found: install it with `apt-get install \(tool == "ip" ? "iproute2" : "iptables")`"))
        }
        return KernelProbe(findings: findings)
    }

    private static func probeInScratchNetns() throws -> [Finding] {
        var findings: [Finding] = []
        try NetworkNamespace.scratch {
            let socket = try RouteSocket()
            let selfFD = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            defer { close(selfFD) }
            findings.append(attempt("netns+veth", "network namespaces and veth pairs") {
                try socket.createVeth("probe0", peer: "probe1", peerNetnsFD: selfFD)
            })
            findings.append(attempt("geneve", "kernel Geneve devices; without them MeshLab runs a userspace Geneve endpoint on TAP + UDP 6081") {
                try socket.createGeneve("probegnv", vni: 1000, remote: "192.0.2.1")
            })
            findings.append(attempt("tap", "TUN/TAP devices (/dev/net/tun)") {
                close(try TapDevice.open("probetap", persistent: false))
            })
            findings.append(attempt("iptables", "iptables with REDIRECT, TPROXY, CONNMARK, mark and conntrack matches (redirection rules)") {
                let check = try NetnsCommand.runHere("iptables-restore", ["--test"], input: Self.redirectionFeatureRules)
                guard check.status == 0 else { throw NetnsError(check.output.trimmingCharacters(in: .whitespacesAndNewlines)) }
            })
            findings.append(attempt("tc-clsact", "tc clsact qdiscs (eBPF redirection attaches there)") {
                let check = try NetnsCommand.runHere("tc", ["qdisc", "add", "dev", "probe0", "clsact"])
                guard check.status == 0 else { throw NetnsError(check.output.trimmingCharacters(in: .whitespacesAndNewlines)) }
            })
            findings.append(attempt("clang-bpf", "clang that targets BPF (compiles the eBPF redirection programs)") {
                guard let clang = which("clang") else { throw NetnsError("clang not found (it ships with the Swift toolchain)") }
                let targets = try NetnsCommand.runHere(clang, ["-print-targets"])
                guard targets.output.contains("bpf") else { throw NetnsError("\(clang) has no BPF target") }
            })
            findings.append(attempt("conntrack", "connection tracking readable over netlink (conntrack -L)") {
                let check = try NetnsCommand.runHere("conntrack", ["-L"])
                guard check.status == 0 else { throw NetnsError(check.output.trimmingCharacters(in: .whitespacesAndNewlines)) }
            })
        }
        return findings
    }

    private static func attempt(_ feature: String, _ what: String, _ body: () throws -> Void) -> Finding {
        do {
            try body()
            return Finding(feature: feature, available: true, detail: what)
        } catch {
            return Finding(feature: feature, available: false, detail: "\(what): \(error)")
        }
    }

    /// One rule of each kind the redirection modes use, checked without being committed.
    static let redirectionFeatureRules = """
        *mangle
        -A PREROUTING -m mark --mark 0x539/0xfff -j CONNMARK --set-xmark 0x111/0xfff
        -A PREROUTING -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
        -A PREROUTING -p tcp -j TPROXY --on-port 15001 --on-ip 127.0.0.1 --tproxy-mark 0x111/0xfff
        COMMIT
        *nat
        -A OUTPUT -p tcp ! -d 127.0.0.1/32 -j REDIRECT --to-ports 15001
        COMMIT

        """

    public static func which(_ tool: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin") + ":/usr/sbin:/sbin"
        return paths.split(separator: ":").map { "\($0)/\(tool)" }.first { access($0, X_OK) == 0 }
    }
}
