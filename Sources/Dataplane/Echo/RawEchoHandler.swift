import Foundation
import NIOCore

/// Raw TCP: one JSON line saying who answered, then every byte received is sent back as is.
final class RawEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let identity: EchoIdentity
    private var greeted = false
    /// Completes once everything echoed so far is written (writes complete in order).
    private var lastWrite: EventLoopFuture<Void>?

    init(identity: EchoIdentity) { self.identity = identity }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !greeted {
            greeted = true
            let reply = identity.reply(protocol: "tcp", channel: context.channel)
            var line = context.channel.allocator.buffer(capacity: 256)
            line.writeBytes((try? JSONEncoder().encode(reply)) ?? Data())
            line.writeInteger(UInt8(ascii: "\n"))
            context.write(wrapOutboundOut(line), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(data, promise: written)
        lastWrite = written.futureResult
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client finished sending: finish once everything is echoed. (Closing output right away
        // would become a full close in NIO, input being closed, and drop echo bytes still queued.)
        if let event = event as? ChannelEvent, event == .inputClosed {
            let channel = context.channel
            if let lastWrite { lastWrite.whenComplete { _ in channel.close(promise: nil) } } else { channel.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }
}
