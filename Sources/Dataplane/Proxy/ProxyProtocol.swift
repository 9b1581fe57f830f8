import NIOCore

/// A PROXY protocol v2 header (haproxy's proxy-protocol.txt, binary form) as ztunnel writes it to a
/// workload with a PROXY application tunnel: the caller's and the original destination's IPv4
/// address and port, and the caller's SPIFFE identity in TLV 0xD0.
struct ProxyHeader: Equatable, Sendable {
    var source: (ip: String, port: Int)
    var destination: (ip: String, port: Int)
    /// `spiffe://…` of the caller, when it proved one.
    var identity: String?

    static let signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// ztunnel's TLV type for the source identity.
    static let identityTLV: UInt8 = 0xD0
    private static let proxyCommand: UInt8 = 0x21  // version 2, PROXY
    private static let tcpOverIPv4: UInt8 = 0x11

    static func == (a: ProxyHeader, b: ProxyHeader) -> Bool {
        a.source == b.source && a.destination == b.destination && a.identity == b.identity
    }

    func encoded() -> ByteBuffer {
        var tlvs = ByteBuffer()
        if let identity {
            tlvs.writeInteger(Self.identityTLV)
            tlvs.writeInteger(UInt16(identity.utf8.count))
            tlvs.writeString(identity)
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(Self.signature)
        buffer.writeInteger(Self.proxyCommand)
        buffer.writeInteger(Self.tcpOverIPv4)
        buffer.writeInteger(UInt16(12 + tlvs.readableBytes))
        buffer.writeInteger(IPv4Number(source.ip) ?? 0)
        buffer.writeInteger(IPv4Number(destination.ip) ?? 0)
        buffer.writeInteger(UInt16(truncatingIfNeeded: source.port))
        buffer.writeInteger(UInt16(truncatingIfNeeded: destination.port))
        buffer.writeBuffer(&tlvs)
        return buffer
    }

    enum ParseError: Error, Equatable { case notProxyProtocol, unsupported(String) }

    /// Reads one header from the front of `buffer`: nil while more bytes are needed.
    static func read(from buffer: inout ByteBuffer) throws -> ProxyHeader? {
        guard buffer.readableBytes >= 16 else {
            guard buffer.readableBytesView.elementsEqual(signature.prefix(buffer.readableBytes)) else { throw ParseError.notProxyProtocol }
            return nil
        }
        guard buffer.readableBytesView.prefix(12).elementsEqual(signature) else { throw ParseError.notProxyProtocol }
        let start = buffer.readerIndex
        let command = buffer.getInteger(at: start + 12, as: UInt8.self)!
        let family = buffer.getInteger(at: start + 13, as: UInt8.self)!
        let length = Int(buffer.getInteger(at: start + 14, as: UInt16.self)!)
        guard command == proxyCommand else { throw ParseError.unsupported(String(format: "command 0x%02x", command)) }
        guard family == tcpOverIPv4, length >= 12 else { throw ParseError.unsupported(String(format: "family 0x%02x", family)) }
        guard buffer.readableBytes >= 16 + length else { return nil }
        buffer.moveReaderIndex(forwardBy: 16)
        var body = buffer.readSlice(length: length)!
        let (sourceIP, destinationIP) = (body.readInteger(as: UInt32.self)!, body.readInteger(as: UInt32.self)!)
        let (sourcePort, destinationPort) = (body.readInteger(as: UInt16.self)!, body.readInteger(as: UInt16.self)!)
        var identity: String?
        while let type = body.readInteger(as: UInt8.self), let size = body.readInteger(as: UInt16.self) {
            guard let value = body.readString(length: Int(size)) else { throw ParseError.unsupported("truncated TLV") }
            if type == identityTLV { identity = value }
        }
        return ProxyHeader(source: (dottedQuad(sourceIP), Int(sourcePort)), destination: (dottedQuad(destinationIP), Int(destinationPort)),
                           identity: identity)
    }

    private static func dottedQuad(_ number: UInt32) -> String {
        (0..<4).map { String(number >> (24 - 8 * $0) & 0xFF) }.joined(separator: ".")
    }
}

/// Takes the PROXY header off the front of a connection, hands it to `received` (which installs
/// what follows), passes on the bytes after it, and leaves the pipeline. A connection that does not
/// start with one is closed.
final class ProxyHeaderDecoder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let received: (ProxyHeader, Channel) throws -> Void
    private var buffered = ByteBuffer()

    init(received: @escaping (ProxyHeader, Channel) throws -> Void) { self.received = received }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffered.writeBuffer(&incoming)
        do {
            guard let header = try ProxyHeader.read(from: &buffered) else { return }
            try received(header, context.channel)
            let rest = buffered
            buffered = ByteBuffer()
            if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } catch {
            context.close(promise: nil)
        }
    }
}
