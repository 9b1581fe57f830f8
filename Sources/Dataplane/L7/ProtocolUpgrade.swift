import NIOCore
import NIOHTTP1

/// WebSocket through the L7 proxy, which Istio allows by default: the request goes upstream with
/// its `Connection: upgrade` / `Upgrade: websocket`, and when the upstream answers 101 both
/// connections leave HTTP and are glued byte for byte, as ztunnel glues a tunnel.
enum ProtocolUpgrade {
    /// The upgrade an HTTP/1.1 request asks for, when it is one the proxy passes on.
    static func requested(_ head: HTTPRequestHead) -> String? {
        guard head.version == .http1_1, let upgrade = asked(head), upgrade.lowercased() == "websocket" else { return nil }
        return upgrade
    }

    /// Whether the request leaves HTTP behind it if the server agrees (any Upgrade, or CONNECT):
    /// NIO's HTTP/1 decoder stops reading the connection after such a request, so whatever the
    /// answer, it is the connection's last.
    static func endsHTTP(_ head: HTTPRequestHead) -> Bool {
        head.version.major == 1 && (head.method == .CONNECT || asked(head) != nil)
    }

    private static func asked(_ head: HTTPRequestHead) -> String? {
        guard head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) else { return nil }
        return head.headers.first(name: "upgrade")
    }

    /// Takes a connection out of HTTP: `application` (the proxy or the upstream exchange) leaves
    /// first, a Holdback takes its place, then the codecs go — bytes a decoder still held (frames
    /// sent right behind the 101) reach the Holdback. Completes once they are all gone: then the
    /// connection is ready for `Forwarder.glue`.
    static func unwrap(_ channel: Channel, application: RemovableChannelHandler,
                       codecs: (ChannelPipeline.SynchronousOperations) throws -> [RemovableChannelHandler]) throws -> EventLoopFuture<Void> {
        let pipeline = channel.pipeline.syncOperations
        let codecs = try codecs(pipeline)
        pipeline.removeHandler(application, promise: nil)
        try pipeline.addHandler(Holdback())
        let removed = codecs.map { codec in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            pipeline.removeHandler(codec, promise: promise)
            return promise.futureResult
        }
        return EventLoopFuture.andAllSucceed(removed, on: channel.eventLoop)
    }
}
