import NIOCore

/// Keeps what a channel receives (bytes, and the peer's half-close) until the channel is glued to
/// its partner. NIO drains a socket on EOF even with autoRead off, so without this, bytes and the
/// FIN of a quick client would reach the end of the pipeline and be lost.
final class Holdback: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var held: [ByteBuffer] = []
    private var inputClosed = false
    private var released = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        released ? context.fireChannelRead(data) : held.append(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if !released, let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Delivers what was held to the handlers after this one, then steps aside.
    /// Bytes that arrive re-entrantly while draining (an HTTP/2 stream delivers buffered frames
    /// synchronously on read) queue behind the held ones, so order is kept.
    func release(_ context: ChannelHandlerContext) {
        let delivered = !held.isEmpty
        while !held.isEmpty { context.fireChannelRead(wrapInboundOut(held.removeFirst())) }
        released = true
        if delivered { context.fireChannelReadComplete() }
        if inputClosed { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
    }
}

extension Holdback {
    /// Releases what a channel's `Holdback` kept to the handlers added after it, removes it, and
    /// lets the channel read on: for a connection whose handlers are now in place.
    static func handOver(_ channel: Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        let holdback = try pipeline.handler(type: Holdback.self)
        holdback.release(try pipeline.context(handler: holdback))
        pipeline.removeHandler(holdback, promise: nil)
        channel.setOption(.autoRead, value: true).whenFailure { _ in }
    }
}
