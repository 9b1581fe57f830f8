import NIOHTTP2

/// The HTTP/2 side of HBONE, the same at both ends (MeshLab's client pool and its 15008 servers).
enum HBONESettings {
    /// At most this many tunnels share one HBONE connection; then another is opened.
    static let maxStreamsPerConnection = 100
    static let maxFrameSize = 1 << 20

    /// HTTP/2 settings HBONE uses, ztunnel's (src/config.rs: 4 MiB stream window, 16 MiB connection
    /// window, 1 MiB frames), and the limits that keep an abusive peer from costing more than that
    /// connection (Tests/EndToEndTests/HTTP2AbuseEndToEndTests). Both ends use them: MeshLab's pool
    /// and 15008.
    static var connection: NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            // 100: what MeshLab's and ztunnel's pools open per connection (ztunnel's server says 200,
            // src/proxy/h2/server.rs), and what NIO holds to anyway until our SETTINGS is ACKed. One
            // stream more ends the connection with GOAWAY PROTOCOL_ERROR, as nghttp2 (Envoy) does past
            // an ACKed limit; h2 (ztunnel, hyper) refuses just that stream (RST_STREAM REFUSED_STREAM),
            // and so does nghttp2 before the ACK. NIO 1.46 has no option for either.
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxStreamsPerConnection),
            HTTP2Setting(parameter: .initialWindowSize, value: 4 << 20),
            HTTP2Setting(parameter: .maxFrameSize, value: maxFrameSize),
            // ztunnel's server: 64 KiB, "we know we are going to receive a bounded set of headers"
            // (a CONNECT's are under 1 KiB). Said, since a peer may otherwise assume no limit.
            HTTP2Setting(parameter: .maxHeaderListSize, value: 64 << 10),
            // HPACK's default table (RFC 7541), said outright: what decoding a peer's headers may keep.
            HTTP2Setting(parameter: .headerTableSize, value: 4096),
        ]
        configuration.targetWindowSize = 16 << 20
        configuration.limitAbuse()
        return configuration
    }

    static var stream: NIOHTTP2Handler.StreamConfiguration {
        var configuration = NIOHTTP2Handler.StreamConfiguration()
        configuration.targetWindowSize = 4 << 20
        configuration.limitResets()
        return configuration
    }
}
