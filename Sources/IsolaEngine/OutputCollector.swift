import Foundation

/// Collects a sandbox's stdout/stderr as they arrive (on reader threads), so the invocation in flight can
/// include its lines in a `Tail` log; bounded, since only the last 4 KB is ever returned.
final class OutputCollector: @unchecked Sendable {
    static let limit = 64 * 1024
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ chunk: [UInt8]) {
        lock.withLock {
            bytes += chunk
            if bytes.count > Self.limit { bytes.removeFirst(bytes.count - Self.limit) }
        }
    }

    /// Everything since the last call.
    func take() -> String {
        lock.withLock {
            defer { bytes = [] }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
