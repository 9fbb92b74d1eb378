import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Request ids (`x-amzn-RequestId`, the Runtime API's `Lambda-Runtime-Aws-Request-Id`): random UUIDs (version 4)
/// in AWS's lower-case text.
///
/// Why not `UUID()`: on Linux, Foundation reads 16 bytes from /dev/urandom for each one (open, read, close), and
/// `SystemRandomNumberGenerator` makes a getrandom(2) call per 8 bytes. An invocation needs two or three random
/// values, so those system calls were a visible share of a warm invoke. The kernel's random bytes are taken
/// 4 KB at a time from /dev/urandom instead and handed out under a lock; they are the same bytes, just fetched in bulk.
public enum RequestID {
    public static func make() -> String {
        var bytes = RandomBytes.shared.take(16)
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Kernel randomness, fetched in 4 KB blocks. Thread-safe.
public final class RandomBytes: Sendable {
    public static let shared = RandomBytes()
    private static let blockSize = 4_096
    private let state = Mutex<(block: [UInt8], used: Int)>(([], RandomBytes.blockSize))

    /// A random 64-bit number.
    public func next() -> UInt64 {
        take(8).reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
    }

    /// `count` (at most 4,096) random bytes.
    public func take(_ count: Int) -> [UInt8] {
        let count = min(max(count, 0), Self.blockSize)
        return state.withLock { state in
            if state.used + count > state.block.count {
                state.block = Self.fetchBlock()
                state.used = 0
            }
            defer { state.used += count }
            return Array(state.block[state.used..<state.used + count])
        }
    }

    private static func fetchBlock() -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        var filled = 0
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            block.withUnsafeMutableBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                while filled < blockSize {
                    let got = read(fd, base + filled, blockSize - filled)
                    if got > 0 { filled += got } else if got == 0 || errno != EINTR { break }
                }
            }
            close(fd)
        }
        if filled < blockSize {
            // /dev/urandom unreadable (a chroot without /dev, say): the standard library's generator instead,
            // never zeros.
            var generator = SystemRandomNumberGenerator()
            for index in filled..<blockSize { block[index] = UInt8.random(in: 0...255, using: &generator) }
        }
        return block
    }
}
