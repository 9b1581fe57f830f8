import Glibc

/// An event's JSON line, written by hand with the keys in sorted order (the shape JSONEncoder with
/// `.sortedKeys` gives, and `JSONDecoder` reads back): proxies log every connection and request, and
/// JSONEncoder took a fifth of a waypoint's CPU.
extension ConnectionEvent {
    func jsonLine(timestamp: ArraySlice<UInt8>) -> [UInt8] {
        var line = JSONLine()
        line.field("allowed", allowed)
        line.field("attempts", attempts)
        line.field("bytes_recv", bytesRecv)
        line.field("bytes_sent", bytesSent)
        line.field("direction", direction)
        line.field("dst.addr", dstAddr)
        line.field("dst.hbone_addr", dstHboneAddr)
        line.field("dst.identity", dstIdentity)
        line.field("dst.service", dstService)
        line.field("dst.workload", dstWorkload)
        if let durationMs { line.raw("duration_ms", Array(durationMs.description.utf8)) }
        line.field("error", error)
        line.field("event", event.rawValue)
        line.field("hbone.connection", hboneConnection)
        line.field("id", id)
        line.field("method", method)
        line.field("path", path)
        line.field("policy", policy)
        line.field("reason", reason)
        line.field("request.id", requestID)
        line.field("response_flags", responseFlags)
        line.field("route", route)
        line.field("src.addr", srcAddr)
        line.field("src.identity", srcIdentity)
        line.field("src.namespace", srcNamespace)
        line.field("src.workload", srcWorkload)
        line.field("status", status)
        line.raw("time", [UInt8(ascii: "\"")] + timestamp + [UInt8(ascii: "\"")])
        line.field("trace.parent", traceParent)
        line.field("upstream.host", upstreamHost)
        return line.finished()
    }
}

/// ISO 8601 in UTC to the second (what JSONEncoder's `.iso8601` writes), e.g. `2026-11-23T15:51:43Z`.
func iso8601(secondsSince1970 seconds: Int) -> [UInt8] {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func digits(_ value: Int32, _ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: UInt8(ascii: "0"), count: count)
        var rest = Int(value)
        for index in stride(from: count - 1, through: 0, by: -1) {
            out[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        return out
    }
    let (dash, colon) = (UInt8(ascii: "-"), UInt8(ascii: ":"))
    return digits(parts.tm_year + 1900, 4) + [dash] + digits(parts.tm_mon + 1, 2) + [dash] + digits(parts.tm_mday, 2) + [UInt8(ascii: "T")]
        + digits(parts.tm_hour, 2) + [colon] + digits(parts.tm_min, 2) + [colon] + digits(parts.tm_sec, 2) + [UInt8(ascii: "Z")]
}

/// A JSON object being written, one field at a time; nil values are left out.
private struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    init() { bytes.reserveCapacity(512) }

    mutating func raw(_ key: StaticString, _ value: [UInt8]) {
        self.key(key)
        bytes.append(contentsOf: value)
    }

    private mutating func key(_ key: StaticString) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func field(_ key: StaticString, _ value: String?) {
        guard let value else { return }
        self.key(key)
        bytes.append(UInt8(ascii: "\""))
        // Most values need no escaping: copy them whole.
        let plain = value.utf8.withContiguousStorageIfAvailable { stored in
            guard !stored.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: stored)
            return true
        }
        if plain != true {
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
                case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20: bytes += Array("\\u00".utf8) + Array(String(byte, radix: 16).leftPadded(to: 2).utf8)
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func field(_ key: StaticString, _ value: Int?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func field(_ key: StaticString, _ value: Bool?) {
        guard let value else { return }
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func finished() -> [UInt8] {
        bytes.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
        return bytes
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
