import NIOCore
import NIOHTTP2

/// Keeps a pooled HBONE connection honest, as ztunnel does: a PING every 10 s, and the connection
/// dropped once nothing has been read for 20 s (an `IdleStateHandler` at the front reports that).
/// A GOAWAY from the peer (a draining ztunnel) retires the connection from the pool: its open
/// streams go on, new tunnels get a new connection.
final class HBONEKeepalive: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    static let interval = TimeAmount.seconds(10)
    static let silence = TimeAmount.seconds(20)

    private var pinger: RepeatedTask?
    private let goingAway: () -> Void

    init(goingAway: @escaping () -> Void = {}) { self.goingAway = goingAway }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { goingAway() }
        context.fireChannelRead(data)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        var sequence: UInt64 = 0
        pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: Self.interval, delay: Self.interval) { _ in
            sequence += 1
            let ping = HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(withInteger: sequence), ack: false))
            loopBound.value.writeAndFlush(NIOAny(ping), promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { pinger?.cancel() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.close(promise: nil)  // 20 s without a byte, not even a PING ack
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pinger?.cancel()
        context.fireChannelInactive()
    }
}
