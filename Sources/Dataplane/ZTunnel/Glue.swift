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

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        bytesRead += bytes.readableBytes
        partner?.context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    func channelInactive(context: ChannelHandlerContext) {
        onClose(bytesRead)
        partner?.context?.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputDone = true
            partner?.shutOutput()
            closeIfFinished()
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func shutOutput() {
        guard let context, !outputDone else { return }
        outputDone = true
        context.flush()
        context.close(mode: .output, promise: nil)
        closeIfFinished()
    }

    private func closeIfFinished() {
        if inputDone && outputDone { context?.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

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
