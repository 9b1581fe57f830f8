import NIOCore

/// Joins two channels into one connection: what one reads the other writes, half-closes and
/// closes travel across, and reading follows the partner's writability (backpressure).
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    /// Half-closes seen: this side's peer finished sending; this side's output was shut. Both → close.
    private var inputDone = false
    private var outputDone = false
    /// Bytes this side read (and handed to its partner).
    private(set) var bytesRead = 0
    private let onClose: (Int) -> Void

    private init(onClose: @escaping (Int) -> Void) { self.onClose = onClose }

    /// Two handlers to add to the two channels; `closed` gets the bytes each side read when its channel closes.
    static func pair(onClose first: @escaping (Int) -> Void, _ second: @escaping (Int) -> Void) -> (GlueHandler, GlueHandler) {
        let a = GlueHandler(onClose: first), b = GlueHandler(onClose: second)
        a.partner = b
        b.partner = a
        return (a, b)
    }

    /// Whether this side is an HBONE stream (an HTTP/2 stream channel) rather than a TCP socket.
    private var isStream = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        isStream = (try? context.pipeline.syncOperations.handler(type: HBONEStream.self)) != nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytesRead += bytes.readableBytes
        partner?.send(bytes)
    }

    /// A socket's half-close, which NIO performs once the bytes queued before it are written.
    private var outputShut: EventLoopFuture<Void>?

    private func send(_ bytes: ByteBuffer) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    func channelInactive(context: ChannelHandlerContext) {
        onClose(bytesRead)
        if failed {
            // Reset or error: abort the other side too, as ztunnel does.
            partner?.context?.close(promise: nil)
        } else {
            // A clean end (an HTTP/2 stream may close before its END_STREAM reaches us): the partner
            // writes what it has, then closes.
            partner?.inputDone = true
            partner?.shutOutput()
            partner?.closeIfFinished()
        }
    }

    /// An error (a reset, say) ended this side.
    private var failed = false

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputDone = true
            partner?.shutOutput()
            closeIfFinished()
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Stops writing to this side once its partner has nothing more to send.
    private func shutOutput() {
        guard let context, !outputDone else { return }
        outputDone = true
        if inputDone && !isStream {
            closeIfFinished()
        } else {
            // Queued bytes go first: NIO shuts a socket's output after pending writes, and an HBONE
            // stream's END_STREAM waits behind its DATA (and its flow-control window).
            context.flush()
            let shut = context.eventLoop.makePromise(of: Void.self)
            context.close(mode: .output, promise: shut)
            outputShut = shut.futureResult
        }
    }

    /// Both directions are done. A socket is closed once its queued bytes are written (NIO's full
    /// close would drop them): after its half-close, or else after an empty write queued behind them
    /// (writes complete in order), so no write needs a promise of its own. An HTTP/2 stream closes by
    /// itself after END_STREAM both ways, and closing it here would reset it with DATA still held
    /// back by flow control.
    private func closeIfFinished() {
        guard inputDone && outputDone, !isStream, let context else { return }
        let written = outputShut ?? context.writeAndFlush(wrapOutboundOut(ByteBuffer()))
        let channel = context.channel  // the glue is the last handler, so closing the channel is closing here
        written.whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failed = true
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false { context.read() } else { pendingRead = true }
    }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
