/// Operations to run from inside one netns, in order.
public struct NetnsOps: Codable, Hashable, Sendable {
    public var netns: String
    public var ops: [KernelOp]

    public init(netns: String, ops: [KernelOp]) {
        self.netns = netns
        self.ops = ops
    }
}

/// One kernel operation, made from inside a netns: what `meshlab spec LAB --stage plan` shows and
/// the plan applier performs, one for one.
public enum KernelOp: Codable, Hashable, Sendable {
    /// A Linux bridge, created up.
    case bridge(name: String, alias: String)
    /// A veth pair; `peer` is created directly inside `peerNetns`, down until an `up` op there.
    case veth(name: String, alias: String, peer: String, peerNetns: String, master: String?)
    /// A persistent TAP device (a userspace tunnel endpoint attaches to it), up, with `mtu`.
    case tap(name: String, alias: String, mtu: UInt32)
    case up(device: String)
    case address(device: String, cidr: String)
    /// A route to `destination` (nil = default) via `gateway`, or on-link through `device` when
    /// gateway is nil; in `table` (nil = main).
    case route(destination: String?, gateway: String?, device: String, table: UInt32? = nil)
    /// `local 0.0.0.0/0 dev lo` in `table`: whatever a rule sends there is delivered to local sockets.
    case localDelivery(table: UInt32)
    /// A policy-routing rule: packets with `fwmark` (under `mask`; nil = any packet) look up `table`.
    case rule(priority: UInt32, fwmark: UInt32?, mask: UInt32?, table: UInt32)
    case sysctl(key: String, value: String)
    case ipsetCreate(name: String, type: String)
    case ipsetAdd(name: String, entries: [String])
    /// One `iptables-restore --noflush` batch.
    case iptablesRestore(rules: String)
}

/// eBPF mode: what a node's redirector is asked, once it runs, to attach and record.
public struct RedirectorCall: Codable, Hashable, Sendable {
    public var node: String
    /// Programs to attach to tc hooks, in order.
    public var attach: [BPFAttachment]
    /// Pods whose address goes into the programs' `app_info` map (their traffic is then captured).
    public var enroll: [BPFEnrollment]
}

/// A tc clsact attachment: `program` on `device`'s `ingress` or egress hook, inside `netns`.
public struct BPFAttachment: Codable, Hashable, Sendable {
    public var program: String
    public var netns: String
    public var device: String
    public var ingress: Bool
}

/// A captured pod as the eBPF maps know it: its address, its host-side veth, and its netns (for its MAC).
public struct BPFEnrollment: Codable, Hashable, Sendable {
    public var ip: String
    public var hostVeth: String
    public var netns: String
}
