import NIOCore

/// Closes an HTTP/2 connection (HBONE, or h2c at an L7 proxy) that reports an error. NIO HTTP/2
/// answers a connection error with GOAWAY and reports it, but leaves the connection open: a pooled
/// HBONE connection would then drop every later tunnel's frames unseen. NIO reports a peer's
/// protocol error on one stream here too; a peer that breaks the protocol is not trusted with the
/// connection's other streams either.
final class CloseOnConnectionError: ChannelInboundHandler {
    typealias InboundIn = Any

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
