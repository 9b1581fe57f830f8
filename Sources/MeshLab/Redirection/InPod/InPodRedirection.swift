/// In-pod redirection (Istio ≥ 1.24, REDIRECT form): rules inside each ambient pod's netns that
/// send the pod's TCP to ztunnel's in-pod listeners, and let ztunnel's own (0x539-marked) traffic by.
public enum InPodRedirection {
    public static let ztunnelMark = "0x539/0xfff"
    public static let connectionMark = "0x111/0xfff"
    /// Kubelet's health-probe source, never captured.
    public static let probeSource = "169.254.7.127/32"
    /// Policy routing that delivers replies to ztunnel's transparent (original-source) sockets.
    public static let routingTable: UInt32 = 100
    public static let routingMark: UInt32 = 0x111
    public static let routingMask: UInt32 = 0xfff
    public static let rulePriority: UInt32 = 32764

    /// What `up` does inside a captured pod's netns: the rule batch, then the policy routing that
    /// hands replies to ztunnel's transparent sockets. Sidecar injection's rules are the same batch.
    public static func ops(tproxy: Bool) -> [KernelOp] {
        [
            .iptablesRestore(rules: tproxy ? tproxyRules : rules),
            .rule(priority: rulePriority, fwmark: routingMark, mask: routingMask, table: routingTable),
            .localDelivery(table: routingTable),
        ]
    }

    /// One iptables-restore batch: mangle marks ztunnel's connections, nat redirects everything else.
    public static let rules = """
        \(mangle(inbound: ""))
        *nat
        :ISTIO_PRERT - [0:0]
        :ISTIO_OUTPUT - [0:0]
        -A PREROUTING -j ISTIO_PRERT
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_PRERT -s \(probeSource) -p tcp -j ACCEPT
        -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m mark ! --mark \(ztunnelMark) -j REDIRECT --to-ports 15006
        \(outboundRedirect)
        COMMIT

        """

    /// Both forms' mangle table: ztunnel's (0x539-marked) connections get connmark 0x111, which later
    /// packets restore as their mark; `inbound` rules go in between.
    static func mangle(inbound: String) -> String {
        """
        *mangle
        :ISTIO_PRERT - [0:0]
        :ISTIO_OUTPUT - [0:0]
        -A PREROUTING -j ISTIO_PRERT
        -A OUTPUT -j ISTIO_OUTPUT
        -A ISTIO_PRERT -m mark --mark \(ztunnelMark) -j CONNMARK --set-xmark \(connectionMark)
        \(inbound)-A ISTIO_OUTPUT -m connmark --mark \(connectionMark) -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
        COMMIT
        """
    }

    /// Both forms' outbound capture: the pod's TCP (not ztunnel's own) goes to 15001.
    static let outboundRedirect = """
        -A ISTIO_OUTPUT -m connmark --mark \(connectionMark) -j ACCEPT
        -A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark \(ztunnelMark) -j REDIRECT --to-ports 15001
        """
}
