/// Each operation as the command that would do the same by hand (`ip`, `sysctl`, `ipset`,
/// `iptables-restore`), run inside its netns: what `meshlab spec LAB --stage plan` prints.
extension KernelOp: CustomStringConvertible {
    public var description: String {
        switch self {
        case .bridge(let name, let alias):
            "ip link add \(name) type bridge && ip link set \(name) alias \(alias) up"
        case .veth(let name, let alias, let peer, let peerNetns, let master):
            "ip link add \(name) type veth peer name \(peer) netns \(peerNetns)\(master.map { " && ip link set \(name) master \($0)" } ?? "")"
                + " && ip link set \(name) alias \(alias) up"
        case .tap(let name, let alias, let mtu):
            "ip tuntap add \(name) mode tap && ip link set \(name) mtu \(mtu) alias \(alias) up"
        case .up(let device):
            "ip link set \(device) up"
        case .address(let device, let cidr):
            "ip addr add \(cidr) dev \(device)"
        case .route(let destination, let gateway, let device, let table):
            "ip route add \(destination ?? "default")\(gateway.map { " via \($0)" } ?? "") dev \(device)\(table.map { " table \($0)" } ?? "")"
        case .localDelivery(let table):
            "ip route add local 0.0.0.0/0 dev lo table \(table)"
        case .rule(let priority, let fwmark, let mask, let table):
            "ip rule add priority \(priority)\(fwmark.map { " fwmark \(hex($0))\(mask.map { "/\(hex($0))" } ?? "")" } ?? "") lookup \(table)"
        case .sysctl(let key, let value):
            "sysctl -w \(key)=\(value)"
        case .ipsetCreate(let name, let type):
            "ipset create \(name) \(type)"
        case .ipsetAdd(let name, let entries):
            entries.map { "ipset add \(name) \($0) -exist" }.joined(separator: "\n")
        case .iptablesRestore(let rules):
            "iptables-restore --noflush <<'EOF'\n\(rules.hasSuffix("\n") ? rules : rules + "\n")EOF"
        }
    }

    private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
}
