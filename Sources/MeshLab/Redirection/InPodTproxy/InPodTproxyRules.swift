extension InPodRedirection {
    /// The older form (Istio 1.21–1.23): outbound still REDIRECTed to 15001; inbound TPROXYed to
    /// 15008 (HBONE) and 15006, with `--ctstate RELATED,ESTABLISHED -j ACCEPT` before the 15006 rule,
    /// so only a connection's first packet meets TPROXY (the fast path the rule counters show).
    public static let tproxyRules = """
        \(mangle(inbound: """
            -A ISTIO_PRERT -s \(probeSource) -p tcp -j ACCEPT
            -A ISTIO_PRERT ! -d 127.0.0.1/32 -i lo -p tcp -j ACCEPT
            -A ISTIO_PRERT -p tcp --dport 15008 -m mark ! --mark \(ztunnelMark) -j TPROXY --on-port 15008 --on-ip 0.0.0.0 --tproxy-mark \(connectionMark)
            -A ISTIO_PRERT -p tcp -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
            -A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark \(ztunnelMark) -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark \(connectionMark)

            """))
        *nat
        :ISTIO_OUTPUT - [0:0]
        -A OUTPUT -j ISTIO_OUTPUT
        \(outboundRedirect)
        COMMIT

        """
}
