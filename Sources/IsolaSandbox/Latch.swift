import Foundation

/// A one-shot value: the first `fulfil` wins, every waiter gets it. A runtime's answer, a timeout and a crash race
/// to settle an invocation through one of these; a process's exit and a sandbox's stop are awaited through them.
public final class Latch<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value?
    private var waiters: [CheckedContinuation<Value, Never>] = []

    public init() {}

    /// Returns false when a value was already set (a second post, or a post after a timeout).
    @discardableResult
    public func fulfil(_ newValue: Value) -> Bool {
        let toResume: [CheckedContinuation<Value, Never>]? = lock.withLock {
            guard stored == nil else { return nil }
            stored = newValue
            defer { waiters = [] }
            return waiters
        }
        guard let toResume else { return false }
        for waiter in toResume { waiter.resume(returning: newValue) }
        return true
    }

    /// The value, if one was set.
    public var value: Value? { lock.withLock { stored } }

    public var isFulfilled: Bool { value != nil }

    public func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = lock.withLock {
                if let stored { return stored }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
