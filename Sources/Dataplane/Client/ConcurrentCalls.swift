import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

extension TrafficClient {
    /// Raw TCP calls with up to `concurrency` connections open at once; each sends the payload,
    /// half-closes, and checks the echo byte for byte. Results keep call order.
    public func runConcurrently(count: Int, concurrency: Int, group: EventLoopGroup) -> [CallResult] {
        let results = NIOLockedValueBox([CallResult?](repeating: nil, count: count))
        let slots = DispatchSemaphore(value: max(1, concurrency))
        let done = DispatchGroup()
        for number in 1...max(1, count) {
            slots.wait()
            done.enter()
            let started = DispatchTime.now()
            tcpCall(number, group: group).whenComplete { outcome in
                var result = (try? outcome.get()) ?? CallResult(call: number, target: target, protocol: "tcp", outcome: .failed)
                if case .failure(let error) = outcome { (result.outcome, result.error) = Self.classify(error) }
                result.milliseconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
                results.withLockedValue { $0[number - 1] = result }
                slots.signal()
                done.leave()
            }
        }
        done.wait()
        return results.withLockedValue { $0.compactMap { $0 } }
    }

    private func tcpCall(_ number: Int, group: EventLoopGroup) -> EventLoopFuture<CallResult> {
        let eventLoop = group.next()
        let received = eventLoop.makePromise(of: [UInt8].self)
        let payload = tcpPayload()
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(ByteCollector(promise: received)) }
            }
            .connect(host: host, port: port)
            .flatMapError { error in
                received.fail(error)
                return eventLoop.makeFailedFuture(error)
            }
            .flatMap { channel in
                let deadline = eventLoop.scheduleTask(in: timeout) { channel.pipeline.fireUserInboundEventTriggered(CallTimedOut()) }
                channel.writeAndFlush(ByteBuffer(bytes: payload)).flatMap { channel.close(mode: .output) }.whenFailure { _ in }
                return received.futureResult.always { _ in
                    deadline.cancel()
                    channel.close(promise: nil)
                }
            }
            .map { bytes in
                var result = CallResult(call: number, target: target, protocol: "tcp", outcome: .ok)
                let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
                result.reply = try? JSONDecoder().decode(EchoReply.self, from: Data(bytes[..<newline]))
                result.echoIntact = Array(bytes.dropFirst(newline + 1)) == payload
                if result.reply == nil { (result.outcome, result.error) = (.failed, "no echo greeting in \(bytes.count) bytes") }
                return result
            }
    }
}

extension CallResult {
    init(call: Int, target: String, protocol: String, outcome: Outcome) {
        self.init(call: call, target: target, protocol: `protocol`, outcome: outcome, status: nil, reply: nil,
                  echoIntact: nil, error: nil, milliseconds: 0)
    }
}

/// What many calls came to, for `meshlab client --summary`.
public struct CallSummary: Codable, Sendable {
    public var calls: Int
    public var ok: Int
    /// Raw TCP calls whose echo matched the payload byte for byte.
    public var intact: Int
    public var outcomes: [String: Int]
    public var answeredBy: [String: Int]

    public init(_ results: [CallResult]) {
        calls = results.count
        ok = results.filter(\.ok).count
        intact = results.filter { $0.echoIntact == true }.count
        outcomes = Dictionary(grouping: results, by: \.outcome.rawValue).mapValues(\.count)
        answeredBy = Dictionary(grouping: results.compactMap { $0.reply?.pod }, by: { $0 }).mapValues(\.count)
    }
}
