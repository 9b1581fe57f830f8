import NIOHTTP2

/// The limits that keep an abusive HTTP/2 peer from costing more than its own connection, the same
/// for HBONE and for h2c at the L7 proxy (Tests/EndToEndTests/HTTP2AbuseEndToEndTests).
extension NIOHTTP2Handler.ConnectionConfiguration {
    mutating func limitAbuse() {
        // Control frames (PING, SETTINGS, PRIORITY) beyond 200 in 30 s end the connection (NIO's
        // default, kept): MeshLab and ztunnel ping every 10 s.
        controlFrameRateLimit.maximumCount = 200
        controlFrameRateLimit.windowLength = .seconds(30)
        // What NIO may queue for a peer that does not read (PING and SETTINGS ACKs, RST_STREAMs)
        // before it gives up on the connection: Envoy's max_outbound_control_frames (1000), not
        // NIO's 10000.
        maximumBufferedControlFrames = 1000
        // A header block in more than 5 CONTINUATIONs ends the connection (NIO's default; h2 allows
        // max(5, 1.25 × header list / frame size): 5 for 64 KiB in 16 KiB frames).
        maximumSequentialContinuationFrames = 5
    }
}

extension NIOHTTP2Handler.StreamConfiguration {
    /// Rapid reset (CVE-2023-44487): more RST_STREAMs than this from the peer in 30 s and NIO ends the
    /// connection with GOAWAY ENHANCE_YOUR_CALM. NIO's 200 is too few: every refused CONNECT (401,
    /// 503) ends in a RST_STREAM from MeshLab's client, and clients cancel requests for good reasons
    /// (gRPC deadlines, a browser leaving a page). Envoy looks only after 500 streams
    /// (overload.premature_reset_total_stream_count); 1000 a connection still caps what a flood costs
    /// at one decision and one upstream connect attempt per reset.
    mutating func limitResets() {
        streamResetFrameRateLimit.maximumCount = 1000
        streamResetFrameRateLimit.windowLength = .seconds(30)
    }
}
