import NIOCore
import NIOHPACK
import NIOHTTP2

/// One HBONE tunnel on an HTTP/2 stream: the CONNECT exchange, then DATA frames as a byte stream.
/// Outbound bytes become DATA frames; inbound DATA becomes bytes; END_STREAM is a half-close.
final class HBONEStream: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = HTTP2Frame.FramePayload

    enum Role {
        /// Sends `request` when active and reports the answered status.
        case client(request: HPACKHeaders, status: EventLoopPromise<Int>)
        /// Hands the request to `accept`; its status is sent back, and on 200 its `opened` runs
        /// right after the response headers are written (so no DATA can precede them).
        case server(accept: (HPACKHeaders, Channel) -> EventLoopFuture<Acceptance>)
    }

    struct Acceptance {
        var status: Int
        var opened: (() -> Void)?
    }

    private let role: Role
    private var headersSeen = false

    init(_ role: Role) { self.role = role }

    func channelActive(context: ChannelHandlerContext) {
        if case .client(let request, _) = role {
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: request))), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers) where !headersSeen:
            headersSeen = true
            handleFirstHeaders(headers, context: context)
        case .data(let frame):
            // A Holdback after this handler keeps tunnel bytes until the tunnel is glued.
            if case .byteBuffer(let bytes) = frame.data, bytes.readableBytes > 0 {
                context.fireChannelRead(wrapInboundOut(bytes))
            }
            if frame.endStream { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        default:
            break
        }
    }

    private func handleFirstHeaders(_ frame: HTTP2Frame.FramePayload.Headers, context: ChannelHandlerContext) {
        switch role {
        case .client(_, let status):
            let code = frame.headers.first(name: ":status").flatMap(Int.init) ?? 0
            status.succeed(code)
            if code != 200 { context.close(promise: nil) }
        case .server(let accept):
            let channel = context.channel
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            accept(frame.headers, channel).whenComplete { result in
                let (handler, context) = loopBound.value
                let acceptance = (try? result.get()) ?? Acceptance(status: 503, opened: nil)
                let response: HPACKHeaders = [":status": String(acceptance.status)]
                let ok = acceptance.status == 200
                context.writeAndFlush(handler.wrapOutboundOut(.headers(.init(headers: response, endStream: !ok))), promise: nil)
                if ok { acceptance.opened?() } else { context.close(promise: nil) }
            }
        }
    }

    /// Empty writes send nothing: an HTTP/2 peer (NIO, ztunnel) takes a run of empty DATA frames for
    /// a flood and drops the connection, and an h2c encoder inside the tunnel writes one empty buffer
    /// per END_STREAM.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let bytes = unwrapOutboundIn(data)
        guard bytes.readableBytes > 0 else {
            promise?.succeed()
            return
        }
        context.write(wrapOutboundOut(.data(.init(data: bytes))), promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .output {
            let end = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))
            context.writeAndFlush(wrapOutboundOut(end), promise: promise)
        } else {
            context.close(mode: mode, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .client(_, let status) = role { status.fail(ChannelError.eof) }
        context.fireChannelInactive()
    }
}
