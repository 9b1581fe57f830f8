import NIOHTTP2

/// HTTP/2 settings for application traffic (h2c) where MeshLab ends it: the L7 proxy, both ways,
/// and the echo server. NIO's defaults keep HTTP/2's initial 64 KiB windows: one window per round
/// trip, so a 50 MiB h2c upload through one ztunnel pair took 0.44 s, against 0.10 s over HTTP/1.1.
/// The limits keep an abusive client from costing more than its connection
/// (Tests/EndToEndTests/HTTP2AbuseEndToEndTests).
enum AppHTTP2 {
    static let streamWindow = 1 << 20

    static var connection: NIOHTTP2Handler.ConnectionConfiguration {
        var configuration = NIOHTTP2Handler.ConnectionConfiguration()
        configuration.initialSettings = [
            // 100: Envoy's advice for an edge proxy (its default is 2^31 - 1, hyper's 200), and what NIO
            // holds to anyway until our SETTINGS is ACKed. One stream more ends the connection with
            // GOAWAY PROTOCOL_ERROR, as nghttp2 (Envoy) does past an ACKed limit; h2 (hyper) refuses
            // just that stream (RST_STREAM REFUSED_STREAM). NIO 1.46 has no option for it.
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 100),
            HTTP2Setting(parameter: .initialWindowSize, value: streamWindow),
            // Envoy's max_request_headers_kb (60): what a request through a real waypoint or sidecar
            // may carry. (NIO's and hyper's 16 KiB would refuse some of those.)
            HTTP2Setting(parameter: .maxHeaderListSize, value: 60 << 10),
            // HPACK's default table (RFC 7541) and Envoy's hpack_table_size, said outright.
            HTTP2Setting(parameter: .headerTableSize, value: 4096),
        ]
        configuration.targetWindowSize = 4 * streamWindow
        configuration.limitAbuse()
        return configuration
    }

    static var stream: NIOHTTP2Handler.StreamConfiguration {
        var configuration = NIOHTTP2Handler.StreamConfiguration()
        configuration.targetWindowSize = streamWindow
        configuration.limitResets()
        return configuration
    }
}
