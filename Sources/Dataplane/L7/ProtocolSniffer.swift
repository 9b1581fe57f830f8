import NIOCore

/// Reads the first bytes of a connection and lets its owner install the matching protocol's
/// handlers: the HTTP/2 preface → h2c, an HTTP method → HTTP/1.1, anything else → raw TCP. Used by
/// the echo app and by waypoints, which speak what the client speaks.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private static let methods = ["GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "TRACE "].map { Array($0.utf8) }

    enum Kind { case h2c, http1, tcp }

    private let install: (Kind, Channel) throws -> Void
    private var buffered: ByteBuffer?
    /// Set once the protocol is known. Installing and feeding the new handlers can read more bytes
    /// re-entrantly (an HBONE stream delivers its pending DATA when the new handlers ask to read):
    /// they go on behind the buffered ones instead of being sniffed again.
    private var handedOver = false

    init(install: @escaping (Kind, Channel) throws -> Void) { self.install = install }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if handedOver && buffered == nil { return context.fireChannelRead(data) }
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        guard !handedOver else { return }  // installing: delivered with the rest
        let head = Array(buffered!.readableBytesView.prefix(Self.preface.count))
        guard let kind = classify(head) else { return }  // need more bytes
        handOver(kind, context: context)
    }

    /// The client closed its side before saying enough to tell: what it sent is plain TCP.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard !handedOver, let closed = event as? ChannelEvent, closed == .inputClosed else { return context.fireUserInboundEventTriggered(event) }
        handOver(.tcp, context: context, then: closed)
    }

    private func handOver(_ kind: Kind, context: ChannelHandlerContext, then event: ChannelEvent? = nil) {
        handedOver = true
        do {
            try install(kind, context.channel)
            let bytes = buffered
            buffered = nil
            if let bytes, bytes.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(bytes)) }
            if let event { context.fireUserInboundEventTriggered(event) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }

    private func classify(_ head: [UInt8]) -> Kind? {
        if head.starts(with: Self.preface) { return .h2c }
        if Self.preface.starts(with: head) { return nil }
        if Self.methods.contains(where: { head.starts(with: $0) }) { return .http1 }
        if Self.methods.contains(where: { $0.starts(with: head) }) { return nil }
        return .tcp
    }

    func channelInactive(context: ChannelHandlerContext) {
        buffered = nil
        context.fireChannelInactive()
    }
}
