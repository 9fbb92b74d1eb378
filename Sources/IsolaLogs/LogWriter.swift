import Foundation
import Logging
import Synchronization

/// Collects log events from every environment and writes them to the store in batches, off the invoke path:
/// `add` only appends to a buffer under a lock; `run` writes it out every `interval` (or sooner when it fills).
public final class LogWriter: Sendable {
    let store: any LogStore
    let interval: Duration
    let batchSize: Int
    let logger: Logger
    /// An event, or events whose messages are rendered when written (platform records: their formatting and the
    /// figures they read stay off the invoke path).
    enum Pending: Sendable {
        case ready(LogEvent)
        case deferred(group: String, stream: String, tenant: String?, timestamp: Int64, render: @Sendable () -> [String])
    }

    private let buffer = Mutex<[Pending]>([])
    /// When the oldest event still buffered was added (nil: none buffered), for the write-lag metric.
    private let oldest = Mutex<ContinuousClock.Instant?>(nil)
    /// Events dropped because the buffer was full (the store could not keep up); reported in the server log.
    private let dropped = Atomic<Int>(0)
    /// Most events held in memory; beyond it new ones are dropped and counted, never blocking a function.
    let capacity: Int

    public init(store: any LogStore, interval: Duration = .milliseconds(200), batchSize: Int = 2_000, capacity: Int = 200_000, logger: Logger) {
        self.store = store
        self.interval = interval
        self.batchSize = batchSize
        self.capacity = capacity
        self.logger = logger
    }

    public func add(_ events: [LogEvent]) {
        guard !events.isEmpty else { return }
        enqueue(events.map(Pending.ready))
    }

    /// Events whose messages `render` produces when the batch is written (one event per string).
    public func add(group: String, stream: String, tenant: String? = nil, timestamp: Int64, render: @escaping @Sendable () -> [String]) {
        enqueue([.deferred(group: group, stream: stream, tenant: tenant, timestamp: timestamp, render: render)])
    }

    private func enqueue(_ items: [Pending]) {
        let accepted = buffer.withLock { buffer -> Bool in
            guard buffer.count + items.count <= capacity else { return false }
            if buffer.isEmpty { oldest.withLock { $0 = .now } }
            buffer += items
            return true
        }
        if !accepted { dropped.add(items.count, ordering: .relaxed) }
    }

    /// Events waiting to be written.
    public var pending: Int { buffer.withLock { $0.count } }

    /// How long the oldest waiting event has waited (zero when none waits).
    public var lag: Duration { oldest.withLock { $0.map { ContinuousClock.now - $0 } } ?? .zero }

    /// Writes everything buffered so far.
    public func flush() async {
        while true {
            let pending = buffer.withLock { buffer -> [Pending] in
                let taken = Array(buffer.prefix(batchSize))
                buffer.removeFirst(taken.count)
                // What is left was added after the batch: its age is measured from now on (a bound, not exact).
                oldest.withLock { $0 = buffer.isEmpty ? nil : .now }
                return taken
            }
            let batch = pending.flatMap { item -> [LogEvent] in
                switch item {
                case .ready(let event): [event]
                case .deferred(let group, let stream, let tenant, let timestamp, let render):
                    render().map { LogEvent(group: group, stream: stream, timestamp: timestamp, message: $0, tenant: tenant) }
                }
            }
            guard !batch.isEmpty else { break }
            do {
                try await store.append(batch, now: Int64(Date().timeIntervalSince1970 * 1000))
            } catch {
                logger.error("cannot write log events; they are lost", metadata: ["count": "\(batch.count)", "error": "\(error)"])
            }
        }
        let lost = dropped.exchange(0, ordering: .relaxed)
        if lost > 0 { logger.warning("log events dropped: functions wrote faster than the log store could keep up", metadata: ["count": "\(lost)"]) }
    }

    /// Flushes every `interval` until cancelled, then once more.
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }
}
