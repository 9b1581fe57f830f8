/// The random ids proxies put on traffic: `x-request-id` (UUIDv4 text, as Envoy's) and W3C trace ids.
/// Foundation's UUID() opens and reads /dev/urandom on every call and `Int.random` makes a getrandom
/// syscall per draw; these ids need no cryptographic randomness, so a SplitMix64 stream seeded once
/// from the system generator serves them. Used on one event loop only.
final class RandomIDs {
    private var state: UInt64
    private static let hex = Array("0123456789abcdef".utf8)

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    private func next64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Lowercase hex of `words`, with a dash before the given nibble positions.
    private func text(_ words: [UInt64], dashesBefore dashes: Set<Int> = []) -> String {
        var text = [UInt8]()
        text.reserveCapacity(words.count * 16 + dashes.count)
        for (index, word) in words.enumerated() {
            for nibble in 0..<16 {
                if dashes.contains(index * 16 + nibble) { text.append(UInt8(ascii: "-")) }
                text.append(Self.hex[Int(word >> (60 - 4 * UInt64(nibble)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A random UUIDv4, lowercase 8-4-4-4-12.
    func requestID() -> String {
        let high = next64() & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000  // version 4
        let low = next64() & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000  // variant 10
        return text([high, low], dashesBefore: [8, 12, 16, 20])
    }

    /// A W3C trace id: 32 lowercase hex digits.
    func traceID() -> String { text([next64(), next64()]) }
}
