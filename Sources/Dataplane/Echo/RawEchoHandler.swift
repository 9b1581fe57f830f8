import Foundation
import NIOCore

/// Raw TCP: one JSON line saying who answered, then every byte received is sent back as is.
final class RawEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let identity: EchoIdentity
    private var greeted = false

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
        context.writeAndFlush(data, promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // The client finished sending: finish our side once everything is echoed.
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(mode: .output, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
