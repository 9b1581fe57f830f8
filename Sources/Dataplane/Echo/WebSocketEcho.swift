import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// The echo app's WebSocket endpoint (any path, RFC 6455 upgrade): a text message saying who
/// answered, then every message sent back as it came; ping gets pong, close gets close.
final class WebSocketEchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let identity: EchoIdentity

    init(identity: EchoIdentity) { self.identity = identity }

    /// Upgrades every WebSocket handshake; the plain HTTP handler, added as `http`, leaves the pipeline.
    static func upgrade(identity: EchoIdentity, replacing http: String) -> NIOHTTPServerUpgradeConfiguration {
        let upgrader = NIOWebSocketServerUpgrader(
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(WebSocketEchoHandler(identity: identity)) }
            })
        return (upgraders: [upgrader], completionHandler: { context in context.pipeline.syncOperations.removeHandler(name: http, promise: nil) })
    }

    /// Added once the upgrade answer is out and the HTTP handlers are gone.
    func handlerAdded(context: ChannelHandlerContext) {
        var reply = identity.reply(protocol: "websocket", channel: context.channel)
        reply.path = nil
        var text = context.channel.allocator.buffer(capacity: 256)
        text.writeBytes((try? JSONEncoder().encode(reply)) ?? Data())
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: text)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let payload = frame.unmaskedData
        switch frame.opcode {
        case .text, .binary, .continuation:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: payload)), promise: nil)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: payload)), promise: nil)
        case .connectionClose:
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload))).whenComplete { _ in
                channel.close(promise: nil)
            }
        default:
            break
        }
    }
}
