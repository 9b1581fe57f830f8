import NIOCore

/// Hands NIOHTTP2 whole HTTP/2 frames only (as ztunnel's h2 reads them), keeping a frame's start
/// until the rest has arrived.
///
/// NIOHTTP2 cuts DATA out of what it is given without copying, and turns a DATA frame split across
/// reads into several frames cut from one buffer it keeps appending to. A stream that is not read
/// (its tunnel's far side stopped reading) keeps its frames until its window closes, each pinning
/// that buffer, and every append copies it into a larger one, so one held window costs many times
/// its size. Whole frames avoid the splitting; what is left (NIOHTTP2 still appends to the buffer
/// frames were cut from) stays bounded by the window (docs/figures.md has the measurements).
final class WholeFrames: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private static let headerSize = 9

    /// The start of an unfinished frame, in a buffer no forwarded frame shares (appending to the
    /// read it came in would copy that read).
    private var partial: ByteBuffer?
    /// A server first reads the client's 24-byte connection preface, which is not a frame.
    private var prefaceLeft: Int
    /// A frame announced more than HBONE allows: from there on bytes go straight to NIOHTTP2,
    /// which refuses the frame and ends the connection.
    private var passingThrough = false

    init(server: Bool) { prefaceLeft = server ? 24 : 0 }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !passingThrough else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        let held = partial != nil
        if var start = partial {
            partial = nil  // so that `start` is the only reference, and grows in place
            start.writeBuffer(&bytes)
            bytes = start
        }
        let whole = wholeFramesLength(bytes)
        prefaceLeft -= min(prefaceLeft, whole)
        if whole == 0 {
            // Still no whole frame: keep our own buffer as it is; a read TLS handed us, copied.
            partial = bytes.readableBytes == 0 ? nil : held ? bytes : Self.copy(bytes, context)
            return
        }
        if whole < bytes.readableBytes {
            partial = Self.copy(bytes.getSlice(at: bytes.readerIndex + whole, length: bytes.readableBytes - whole)!, context)
        }
        context.fireChannelRead(wrapInboundOut(bytes.getSlice(at: bytes.readerIndex, length: whole)!))
    }

    private static func copy(_ bytes: ByteBuffer, _ context: ChannelHandlerContext) -> ByteBuffer {
        var own = context.channel.allocator.buffer(capacity: bytes.readableBytes)
        own.writeImmutableBuffer(bytes)
        return own
    }

    /// How many leading bytes of `bytes` are whole frames (and the preface, while it is due); all
    /// of them once a frame announces more than HBONE's SETTINGS_MAX_FRAME_SIZE.
    private func wholeFramesLength(_ bytes: ByteBuffer) -> Int {
        let available = bytes.readableBytes
        var offset = min(prefaceLeft, available)
        while offset + Self.headerSize <= available {
            let high = Int(bytes.getInteger(at: bytes.readerIndex + offset, as: UInt8.self)!)
            let low = Int(bytes.getInteger(at: bytes.readerIndex + offset + 1, as: UInt16.self)!)
            let length = high << 16 | low
            if length > HBONESettings.maxFrameSize {
                passingThrough = true
                return available
            }
            guard offset + Self.headerSize + length <= available else { break }
            offset += Self.headerSize + length
        }
        return offset
    }
}
