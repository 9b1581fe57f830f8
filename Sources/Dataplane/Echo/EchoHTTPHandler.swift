import Foundation
import NIOCore
import NIOHTTP1

/// Answers every HTTP request (HTTP/1.1, or h2c through the HTTP/2→HTTP/1 codec) with an
/// `EchoReply` as JSON. The request body is read, not echoed — except on `/stream`, which answers at
/// once and sends each part of the body back as it arrives (a bidirectional stream, as gRPC's).
/// httpbin's `/status/<code>`, `/delay/<seconds>` and `/bytes/<n>` do what httpbin's do.
final class EchoHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let identity: EchoIdentity
    private let `protocol`: String
    private var request: HTTPRequestHead?
    private var streaming = false
    /// Bytes of a `/bytes/<n>` answer still to be written.
    private var unsent = 0

    init(identity: EchoIdentity, protocol: String) {
        self.identity = identity
        self.protocol = `protocol`
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            streaming = head.uri == "/stream"
            // As httpbin's server does: a client that asks before sending its body (curl, for
            // anything over 1 MiB) would otherwise wait a second for the go-ahead.
            if head.version == .http1_1, head.headers["expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
            if streaming {
                let response = HTTPResponseHead(version: head.version, status: .ok, headers: ["content-type": "application/octet-stream"])
                context.writeAndFlush(wrapOutboundOut(.head(response)), promise: nil)
            }
        case .body(let part):
            if streaming { context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(part))), promise: nil) }
        case .end:
            guard let head = request else { return }
            request = nil
            if streaming {
                streaming = false
                let keepAlive = head.isKeepAlive, channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in if !keepAlive { channel.close(promise: nil) } }
                return
            }
            respond(to: head, context: context)
        }
    }

    /// The client finished sending: like any HTTP server, close once it has been answered.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, request == nil {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// httpbin's test paths: `/status/<code>` answers with that status, `/delay/<seconds>` answers
    /// after that long (fractions allowed), so labs can exercise retries and timeouts.
    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let parts = head.uri.split(separator: "?")[0].split(separator: "/")
        if parts.count == 2, parts[0] == "delay", let seconds = Double(parts[1]), seconds > 0 {
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.eventLoop.scheduleTask(in: .milliseconds(Int64(seconds * 1000))) {
                let (handler, context) = loopBound.value
                handler.answer(head, status: .ok, context: context)
            }
            return
        }
        if parts.count == 2, parts[0] == "bytes", let count = Int(parts[1]), count >= 0 {
            return sendBytes(count, for: head, context: context)
        }
        let status = parts.count == 2 && parts[0] == "status" ? Int(parts[1]).map { HTTPResponseStatus(statusCode: $0) } : nil
        answer(head, status: status ?? .ok, context: context)
    }

    /// httpbin's `/bytes/<n>`: n bytes, written 64 KiB at a time as the connection takes them (a slow
    /// reader holds the sender back instead of filling its memory).
    private func sendBytes(_ count: Int, for head: HTTPRequestHead, context: ChannelHandlerContext) {
        let headers = HTTPHeaders([("content-type", "application/octet-stream"), ("content-length", String(count))])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
        unsent = count
        sendMoreBytes(context: context)
    }

    private func sendMoreBytes(context: ChannelHandlerContext) {
        while unsent > 0 && context.channel.isWritable {
            let size = min(unsent, 64 << 10)
            unsent -= size
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: UInt8(ascii: "x"), count: size)))), promise: nil)
            if unsent == 0 { context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil) }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if unsent > 0 { sendMoreBytes(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func answer(_ head: HTTPRequestHead, status: HTTPResponseStatus, context: ChannelHandlerContext) {
        var reply = identity.reply(protocol: `protocol`, channel: context.channel)
        reply.method = head.method.rawValue
        reply.path = head.uri
        reply.headers = Dictionary(head.headers.map { ($0.name.lowercased(), $0.value) }, uniquingKeysWith: { "\($0), \($1)" })
        let body = (try? JSONEncoder().encode(reply)) ?? Data()
        var headers = HTTPHeaders([("content-type", "application/json"), ("content-length", String(body.count + 1))])
        if !head.isKeepAlive && head.version.major == 1 { headers.add(name: "connection", value: "close") }
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.count + 1)
        buffer.writeBytes(body)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
