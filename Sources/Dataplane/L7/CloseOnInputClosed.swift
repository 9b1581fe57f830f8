import NIOCore

/// Closes an h2c connection whose client stopped sending (its socket's FIN, or END_STREAM on the
/// HBONE stream that carries it). HTTP/2 has no use for a half-open connection, and Envoy treats a
/// downstream half-close on an HTTP connection as the connection's end; without this the
/// connection, its upstreams and its tunnels stayed open for good.
final class CloseOnInputClosed: ChannelInboundHandler {
    typealias InboundIn = Any

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
