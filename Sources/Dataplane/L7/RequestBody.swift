import NIOCore
import NIOHTTP1

/// A request's body as the client sends it. The attempt under way gets each part as it arrives, so
/// uploads and gRPC's client and bidirectional streams flow through; what arrived is also kept for a
/// retry, up to Envoy's 1 MiB buffer (past that, the request is not retried).
final class RequestBody {
    static let retryLimit = 1 << 20

    /// What arrived, for the next attempt (dropped once past the limit and already sent on).
    private(set) var kept = ByteBuffer()
    private(set) var ended = false
    /// Whether a new attempt could send the whole body again: false once past the limit.
    private(set) var retryable = true
    private var trailers: HTTPHeaders?
    /// The attempt's upstream channel: each part is written there, and flushed once per read.
    private var upstream: Channel?
    /// Nobody will send it anywhere (the request was answered here): parts are dropped.
    private var discarded = false

    func append(_ chunk: ByteBuffer) {
        guard !discarded else { return }
        if retryable { kept.writeImmutableBuffer(chunk) }
        upstream?.write(HTTPClientRequestPart.body(.byteBuffer(chunk)), promise: nil)
        if upstream != nil && kept.readableBytes > Self.retryLimit {
            retryable = false
            kept = ByteBuffer()
        }
    }

    /// Sends on what this read of the client brought (one flush per read, not per part: an h2c
    /// client's body comes in 16 KiB DATA frames).
    func flush() { upstream?.flush() }

    func finish(_ trailers: HTTPHeaders?) {
        ended = true
        self.trailers = trailers
        upstream?.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
        upstream = nil
    }

    /// Whether more of it may be read from the client now (Envoy's flow control): not while the
    /// upstream cannot take more, nor, with no upstream yet (connecting, a delay fault, a pipelined
    /// request waiting its turn), past what is kept for a retry.
    var wantsMore: Bool {
        if ended || discarded { return true }
        if let upstream { return upstream.isWritable }
        return kept.readableBytes <= Self.retryLimit
    }

    /// Writes what arrived so far to `upstream`, behind the head the caller wrote, and flushes once
    /// (a request that has all arrived goes out in one write); then writes every later part there.
    func stream(to upstream: Channel) {
        if kept.readableBytes > 0 { upstream.write(HTTPClientRequestPart.body(.byteBuffer(kept)), promise: nil) }
        if ended { upstream.write(HTTPClientRequestPart.end(trailers), promise: nil) }
        upstream.flush()
        if !ended { self.upstream = upstream }
    }

    /// The attempt is over: later parts go nowhere (until another attempt streams).
    func detach() { upstream = nil }

    /// The request was answered without its body: what still arrives is dropped.
    func discard() {
        discarded = true
        upstream = nil
        kept = ByteBuffer()
    }
}
