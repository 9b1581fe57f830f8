import Foundation
import NIOCore
import NIOPosix

/// A proxy's end of config push (ztunnel, waypoint, sidecar): a unix socket taking one JSON line per request.
/// `{"apply": ZTunnelUpdate}` answers `ack <version>` once applied; `{"dump": true}` answers the config dump.
public enum ConfigServer {
    public struct Request: Codable, Sendable {
        public var apply: ZTunnelUpdate?
        public var dump: Bool?

        public init(apply: ZTunnelUpdate? = nil, dump: Bool? = nil) {
            self.apply = apply
            self.dump = dump
        }
    }

    /// Listens on `path`, a socket only root can connect to (it is bound 0600): a push carries the
    /// workload certificates' private keys and the policy this proxy enforces.
    public static func start(path: String, proxy: any MeshProxy, group: EventLoopGroup) throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConfigRequestHandler(proxy: proxy))
                }
            }
        return try PrivateFiles.bindingPrivately {
            try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
        }
    }
}

private final class ConfigRequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let proxy: any MeshProxy
    private var buffer = ByteBuffer()

    init(proxy: any MeshProxy) { self.proxy = proxy }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return }
        let line = buffer.readSlice(length: newline - buffer.readerIndex + 1)!
        let channel = context.channel
        let reply: @Sendable (String) -> Void = { text in
            channel.writeAndFlush(ByteBuffer(string: text + "\n")).whenComplete { _ in channel.close(promise: nil) }
        }
        guard let request = try? JSONDecoder().decode(ConfigServer.Request.self, from: Data(line.readableBytesView)) else {
            reply("error: not a config request")
            return
        }
        if let update = request.apply {
            proxy.apply(update).whenComplete { result in
                switch result {
                case .success: reply("ack \(update.config.version)")
                case .failure(let error): reply("error: \(error)")
                }
            }
        } else {
            proxy.dump().whenComplete { result in
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
                let text = (try? result.get()).flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
                reply(text ?? "error: no dump")
            }
        }
    }
}
