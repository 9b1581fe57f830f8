import Foundation
import NIOCore
import NIOPosix

extension TrafficClient {
    /// Long-lived raw TCP calls held open across a change: every connection opens and gets its
    /// first payload echoed, then `whileHeld` runs (the change is made), then each connection sends
    /// its payload again, half-closes, and must get both copies back intact.
    public func runHeld(count: Int, group: EventLoopGroup, whileHeld: () -> Void) -> [CallResult] {
        let payload = tcpPayload()
        let started = DispatchTime.now()
        var calls: [(result: CallResult, channel: Channel?, handler: HeldCallHandler?)] = (1...max(1, count)).map { number in
            var result = CallResult(call: number, target: target, protocol: "tcp", outcome: .failed)
            do {
                let handler = HeldCallHandler(firstEcho: payload.count, eventLoop: group.next())
                let channel = try ClientBootstrap(group: group)
                    .connectTimeout(timeout)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .channelInitializer { $0.pipeline.addHandler(handler) }
                    .connect(host: host, port: port).wait()
                result.source = channel.localAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }
                channel.writeAndFlush(ByteBuffer(bytes: payload), promise: nil)
                return (result, channel, handler)
            } catch {
                (result.outcome, result.error) = Self.classify(error)
                return (result, nil, nil)
            }
        }
        // Held: every connection has been answered once.
        for index in calls.indices {
            guard let handler = calls[index].handler else { continue }
            if (try? handler.firstEchoed.futureResult.wait()) == nil {
                calls[index].result.error = "no first echo before the change"
            }
        }
        whileHeld()
        for index in calls.indices {
            guard let channel = calls[index].channel, let handler = calls[index].handler else { continue }
            let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
            channel.writeAndFlush(ByteBuffer(bytes: payload)).flatMap { channel.close(mode: .output) }.whenFailure { _ in }
            let received = (try? handler.finished.futureResult.wait()) ?? []
            deadline.cancel()
            channel.close(promise: nil)
            var result = calls[index].result
            let newline = received.firstIndex(of: UInt8(ascii: "\n")) ?? received.endIndex
            result.reply = try? JSONDecoder().decode(EchoReply.self, from: Data(received[..<newline]))
            let echoed = Array(received.dropFirst(newline + 1))
            result.echoIntact = echoed == payload + payload
            if result.reply != nil && result.echoIntact == true {
                result.outcome = .ok
            } else {
                result.outcome = .reset
                result.error = "connection ended across the change: \(echoed.count) of \(2 * payload.count) bytes echoed"
            }
            calls[index].result = result
        }
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
        return calls.map { call in
            var result = call.result
            result.milliseconds = milliseconds
            return result
        }
    }
}

/// Collects a held call's bytes: signals once the greeting and the first echo are in, and again
/// when the connection ends (with everything received).
final class HeldCallHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let firstEchoed: EventLoopPromise<Void>
    let finished: EventLoopPromise<[UInt8]>
    private let firstEcho: Int
    private var received: [UInt8] = []
    private var echoed = false, ended = false

    init(firstEcho: Int, eventLoop: EventLoop) {
        self.firstEcho = firstEcho
        firstEchoed = eventLoop.makePromise()
        finished = eventLoop.makePromise()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytesView
        if let newline = received.firstIndex(of: UInt8(ascii: "\n")), received.count - newline - 1 >= firstEcho, !echoed {
            echoed = true
            firstEchoed.succeed(())
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { end() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }

    func channelInactive(context: ChannelHandlerContext) {
        end()
        context.fireChannelInactive()
    }

    private func end() {
        guard !ended else { return }
        ended = true
        if !echoed { firstEchoed.fail(ChannelError.eof) }
        finished.succeed(received)
    }
}
