import NIOCore
import NIOHTTP1
import NIOHTTP2

/// Reads the first bytes of a connection and installs the matching protocol handlers:
/// the HTTP/2 preface → h2c, an HTTP method → HTTP/1.1, anything else → raw TCP echo.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    private static let methods = ["GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "TRACE "].map { Array($0.utf8) }

    private let identity: EchoIdentity
    private var buffered: ByteBuffer?

    init(identity: EchoIdentity) { self.identity = identity }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffered == nil { buffered = incoming } else { buffered!.writeBuffer(&incoming) }
        let head = Array(buffered!.readableBytesView.prefix(Self.preface.count))
        guard let kind = classify(head) else { return }  // need more bytes
        do {
            try install(kind, context: context)
            let bytes = buffered!
            buffered = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }

    private enum Kind { case h2c, http1, tcp }

    private func classify(_ head: [UInt8]) -> Kind? {
        if head.starts(with: Self.preface) { return .h2c }
        if Self.preface.starts(with: head) { return nil }
        if Self.methods.contains(where: { head.starts(with: $0) }) { return .http1 }
        if Self.methods.contains(where: { $0.starts(with: head) }) { return nil }
        return .tcp
    }

    private func install(_ kind: Kind, context: ChannelHandlerContext) throws {
        let pipeline = context.pipeline.syncOperations
        let identity = self.identity
        // Only raw TCP echoes past the client's half-close; HTTP servers close on the client's EOF.
        if kind != .tcp { context.channel.setOption(.allowRemoteHalfClosure, value: false).whenFailure { _ in } }
        switch kind {
        case .tcp:
            try pipeline.addHandler(RawEchoHandler(identity: identity))
        case .http1:
            try pipeline.configureHTTPServerPipeline()
            try pipeline.addHandler(EchoHTTPHandler(identity: identity, protocol: "HTTP/1.1"))
        case .h2c:
            _ = try pipeline.configureHTTP2Pipeline(
                mode: .server, connectionConfiguration: .init(), streamConfiguration: .init()
            ) { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandlers(
                        HTTP2FramePayloadToHTTP1ServerCodec(),
                        EchoHTTPHandler(identity: identity, protocol: "h2c"))
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        buffered = nil
        context.fireChannelInactive()
    }
}
