/// Node-level redirection with iptables and Geneve (Istio 1.18's ambient shape): the node
/// marks traffic of enrolled pods and routes it through Geneve tunnels into ztunnel's own netns,
/// where TPROXY hands it to ztunnel's transparent listeners.
///
/// Node side: `istioin` (VNI 1000) carries traffic *to* enrolled pods into ztunnel (15008/15006);
/// `istioout` (VNI 1001) carries traffic *from* enrolled pods to ztunnel (15001).
public enum NodeIptablesRedirection {
    public struct Tunnel: Sendable {
        /// The device in the node netns and its address.
        public var nodeDevice: String
        public var nodeAddress: String
        /// The device in ztunnel's netns and its address.
        public var ztunnelDevice: String
        public var ztunnelAddress: String
        public var vni: UInt32
    }

    public static let inbound = Tunnel(nodeDevice: "istioin", nodeAddress: "192.168.126.1", ztunnelDevice: "pistioin",
                                       ztunnelAddress: "192.168.126.2", vni: 1000)
    public static let outbound = Tunnel(nodeDevice: "istioout", nodeAddress: "192.168.127.1", ztunnelDevice: "pistioout",
                                        ztunnelAddress: "192.168.127.2", vni: 1001)
    public static let tunnels = [inbound, outbound]
    public static let tunnelPrefix = 30
    /// Room for the Geneve, UDP and outer IP headers inside a 1500-byte underlay.
    public static let tunnelMTU: UInt32 = 1450
    public static let genevePort: UInt16 = 6081

    /// The ipset of enrolled (captured) pod addresses on a node.
    public static let podSet = "ztunnel-pods-ips"

    // Node marks, each its own mask.
    public static let outboundMark: UInt32 = 0x100
    public static let skipMark: UInt32 = 0x200
    public static let proxyMark: UInt32 = 0x210
    public static let connSkipMark: UInt32 = 0x220
    public static let proxyReturnMark: UInt32 = 0x040
    // ztunnel netns marks.
    public static let tproxyMark: UInt32 = 0x400
    public static let originalSourceReturnMark: UInt32 = 0x4d3
    public static let ztunnelMarkMask: UInt32 = 0xfff

    /// Node policy routing: table 100 holds a route per enrolled pod into `istioin`; 101 sends marked
    /// outbound traffic into `istioout`; 102 returns replies of ztunnel's spoofed connections to ztunnel.
    public static let inboundTable: UInt32 = 100
    public static let outboundTable: UInt32 = 101
    public static let proxyReturnTable: UInt32 = 102
    public static let mainTable: UInt32 = 254

    public struct NodeRule: Sendable {
        public var priority: UInt32
        public var mark: UInt32?
        public var table: UInt32
    }

    public static let nodeRules = [
        NodeRule(priority: 100, mark: skipMark, table: mainTable),
        NodeRule(priority: 101, mark: outboundMark, table: outboundTable),
        NodeRule(priority: 102, mark: proxyReturnMark, table: proxyReturnTable),
        NodeRule(priority: 103, mark: nil, table: inboundTable),
    ]

    /// The node's mangle and nat rules, in one iptables-restore batch. `ztunnelIP` is ztunnel's pod
    /// address, `ztunnelVeth` the node's end of ztunnel's veth.
    public static func nodeRules(ztunnelIP: String, ztunnelVeth: String) -> String {
        func mark(_ value: UInt32) -> String { "0x\(String(value, radix: 16))/0x\(String(value, radix: 16))" }
        return """
            *mangle
            :ztunnel-PREROUTING - [0:0]
            :ztunnel-FORWARD - [0:0]
            :ztunnel-INPUT - [0:0]
            -A PREROUTING -j ztunnel-PREROUTING
            -A FORWARD -j ztunnel-FORWARD
            -A INPUT -j ztunnel-INPUT
            -A ztunnel-PREROUTING -i \(inbound.nodeDevice) -j MARK --set-xmark \(mark(skipMark))
            -A ztunnel-PREROUTING -i \(inbound.nodeDevice) -j RETURN
            -A ztunnel-PREROUTING -i \(outbound.nodeDevice) -j MARK --set-xmark \(mark(skipMark))
            -A ztunnel-PREROUTING -i \(outbound.nodeDevice) -j RETURN
            -A ztunnel-PREROUTING -p udp -m udp --dport \(genevePort) -j RETURN
            -A ztunnel-PREROUTING -m connmark --mark \(mark(connSkipMark)) -j MARK --set-xmark \(mark(skipMark))
            -A ztunnel-PREROUTING -m mark --mark \(mark(skipMark)) -j RETURN
            -A ztunnel-PREROUTING ! -i \(ztunnelVeth) -m connmark --mark \(mark(proxyMark)) -j MARK --set-xmark \(mark(proxyReturnMark))
            -A ztunnel-PREROUTING -m mark --mark \(mark(proxyReturnMark)) -j RETURN
            -A ztunnel-PREROUTING ! -s \(ztunnelIP)/32 -i \(ztunnelVeth) -j MARK --set-xmark \(mark(proxyMark))
            -A ztunnel-PREROUTING -m mark --mark \(mark(skipMark)) -j RETURN
            -A ztunnel-PREROUTING -i \(ztunnelVeth) -j MARK --set-xmark \(mark(connSkipMark))
            -A ztunnel-PREROUTING -m mark --mark \(mark(skipMark)) -j RETURN
            -A ztunnel-PREROUTING -p tcp -m set --match-set \(podSet) src -j MARK --set-xmark \(mark(outboundMark))
            -A ztunnel-FORWARD -m mark --mark \(mark(connSkipMark)) -j CONNMARK --save-mark --nfmask 0x\(String(connSkipMark, radix: 16)) --ctmask 0x\(String(connSkipMark, radix: 16))
            -A ztunnel-FORWARD -m mark --mark \(mark(proxyMark)) -j CONNMARK --save-mark --nfmask 0x\(String(proxyMark, radix: 16)) --ctmask 0x\(String(proxyMark, radix: 16))
            -A ztunnel-INPUT -m mark --mark \(mark(connSkipMark)) -j CONNMARK --save-mark --nfmask 0x\(String(connSkipMark, radix: 16)) --ctmask 0x\(String(connSkipMark, radix: 16))
            -A ztunnel-INPUT -m mark --mark \(mark(proxyMark)) -j CONNMARK --save-mark --nfmask 0x\(String(proxyMark, radix: 16)) --ctmask 0x\(String(proxyMark, radix: 16))
            COMMIT
            *nat
            :ztunnel-PREROUTING - [0:0]
            :ztunnel-POSTROUTING - [0:0]
            -A PREROUTING -j ztunnel-PREROUTING
            -A POSTROUTING -j ztunnel-POSTROUTING
            -A ztunnel-PREROUTING -m mark --mark \(mark(outboundMark)) -j ACCEPT
            -A ztunnel-POSTROUTING -m mark --mark \(mark(outboundMark)) -j ACCEPT
            COMMIT

            """
    }

    /// Inside ztunnel's netns: TPROXY from the tunnels to the listeners (15008 for HBONE arriving on
    /// `pistioin`, 15006 for other inbound, 15001 for everything from `pistioout`), and a mark on
    /// replies to ztunnel's original-source connections so they reach its transparent sockets.
    public static func ztunnelRules(ztunnelIP: String) -> String {
        let tproxy = "--tproxy-mark 0x\(String(tproxyMark, radix: 16))/0x\(String(ztunnelMarkMask, radix: 16))"
        return """
            *mangle
            :ztunnel-PREROUTING - [0:0]
            -A PREROUTING -j ztunnel-PREROUTING
            -A ztunnel-PREROUTING -i \(inbound.ztunnelDevice) -p tcp --dport 15008 -j TPROXY --on-port 15008 --on-ip 0.0.0.0 \(tproxy)
            -A ztunnel-PREROUTING -i \(inbound.ztunnelDevice) -p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 \(tproxy)
            -A ztunnel-PREROUTING -i \(outbound.ztunnelDevice) -p tcp -j TPROXY --on-port 15001 --on-ip 0.0.0.0 \(tproxy)
            -A ztunnel-PREROUTING -i eth0 ! -d \(ztunnelIP)/32 -j MARK --set-xmark 0x\(String(originalSourceReturnMark, radix: 16))/0x\(String(ztunnelMarkMask, radix: 16))
            COMMIT

            """
    }

    /// ztunnel netns policy routing: both marks are delivered locally (table 100: `local 0.0.0.0/0 dev lo`).
    public static let ztunnelRoutingTable: UInt32 = 100
    public static let ztunnelRuleMarks: [(priority: UInt32, mark: UInt32)] = [(32764, tproxyMark), (32765, originalSourceReturnMark)]
}
