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
    /// The attempt's upstream: writes and flushes each part.
    private var sink: ((HTTPClientRequestPart) -> Void)?
    /// Nobody will send it anywhere (the request was answered here): parts are dropped.
    private var discarded = false

    func append(_ chunk: ByteBuffer) {
        guard !discarded else { return }
        if retryable { kept.writeImmutableBuffer(chunk) }
        sink?(.body(.byteBuffer(chunk)))
        if sink != nil && kept.readableBytes > Self.retryLimit {
            retryable = false
            kept = ByteBuffer()
        }
    }

    func finish(_ trailers: HTTPHeaders?) {
        ended = true
        self.trailers = trailers
        sink?(.end(trailers))
        sink = nil
    }

    /// Writes what arrived so far behind the head the caller wrote, and flushes once (a request
    /// that has all arrived goes out in one write); then writes and flushes every later part.
    func stream(write: @escaping (HTTPClientRequestPart) -> Void, flush: @escaping () -> Void) {
        if kept.readableBytes > 0 { write(.body(.byteBuffer(kept))) }
        if ended { write(.end(trailers)) }
        flush()
        if !ended { sink = { write($0); flush() } }
    }

    /// The attempt is over: later parts go nowhere (until another attempt streams).
    func detach() { sink = nil }

    /// The request was answered without its body: what still arrives is dropped.
    func discard() {
        discarded = true
        sink = nil
        kept = ByteBuffer()
    }
}
