import NIOCore

/// Hands NIOHTTP2 whole HTTP/2 frames only (as ztunnel's h2 reads them), keeping a frame's start
/// until the rest has arrived.
///
/// NIOHTTP2 cuts DATA out of what it is given without copying, and turns a DATA frame split across
/// reads into several frames cut from one buffer it keeps appending to. A stream that is not read
/// (its tunnel's far side stopped reading) keeps its frames until its window closes, each pinning
/// that buffer, and every append copies it into a larger one: one held 4 MiB window cost 45 MB,
/// and 270 MB on a connection that had carried traffic before. Whole frames avoid the splitting;
/// what is left (NIOHTTP2 still appends to the buffer frames were cut from) stays bounded by the
/// window: 20–85 MB.
final class WholeFrames: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let headerSize = 9

    /// The start of an unfinished frame, in a buffer of its own (appending to the read it came in,
    /// which frames now share, would copy that).
    private var partial: ByteBuffer?
    /// A server first reads the client's 24-byte connection preface, which is not a frame.
    private var prefaceLeft: Int

    init(server: Bool) { prefaceLeft = server ? 24 : 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var partial {
            partial.writeBuffer(&bytes)
            bytes = partial
            self.partial = nil
        }
        let whole = wholeFramesLength(bytes)
        prefaceLeft -= min(prefaceLeft, whole)
        if whole < bytes.readableBytes {
            var rest = context.channel.allocator.buffer(capacity: bytes.readableBytes - whole)
            rest.writeImmutableBuffer(bytes.getSlice(at: bytes.readerIndex + whole, length: bytes.readableBytes - whole)!)
            partial = rest
        }
        guard whole > 0 else { return }
        context.fireChannelRead(wrapInboundOut(bytes.getSlice(at: bytes.readerIndex, length: whole)!))
    }

    /// How many leading bytes of `bytes` are whole frames (and the preface, while it is due); all
    /// of them once a frame announces more than HBONE's SETTINGS_MAX_FRAME_SIZE, for NIOHTTP2 to refuse.
    private func wholeFramesLength(_ bytes: ByteBuffer) -> Int {
        let available = bytes.readableBytes
        var offset = min(prefaceLeft, available)
        while offset + Self.headerSize <= available {
            let high = Int(bytes.getInteger(at: bytes.readerIndex + offset, as: UInt8.self)!)
            let low = Int(bytes.getInteger(at: bytes.readerIndex + offset + 1, as: UInt16.self)!)
            let length = high << 16 | low
            if length > ZTunnel.maxFrameSize { return available }
            guard offset + Self.headerSize + length <= available else { break }
            offset += Self.headerSize + length
        }
        return offset
    }
}
