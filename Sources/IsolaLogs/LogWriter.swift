import Dispatch
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

    private let buffer = Mutex<(items: [Pending], bytes: Int)>(([], 0))
    /// When the oldest event still buffered was added (nil: none buffered), for the write-lag metric.
    private let oldest = Mutex<ContinuousClock.Instant?>(nil)
    /// Events dropped because the buffer was full (the store could not keep up); reported in the server log.
    private let dropped = Atomic<Int>(0)
    /// Most bytes of messages held in memory (16 MB); beyond it new events are dropped and counted, never blocking
    /// a function: a runtime printing faster than the store writes loses its own lines, not the host's memory.
    /// (64 MB at first: a release build reads a 64 MB stdout flood in under a second, faster than the 200 ms
    /// batches drain, and the server's resident memory grew by about 50 MB. The store writes well over 16 MB
    /// per interval, so only floods lose lines.)
    let capacity: Int

    public init(store: any LogStore, interval: Duration = .milliseconds(200), batchSize: Int = 2_000, capacity: Int = 16 * 1_048_576, logger: Logger) {
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
        let size = items.reduce(0) { $0 + Self.size($1) }
        let accepted = buffer.withLock { buffer -> Bool in
            guard buffer.bytes + size <= capacity else { return false }
            if buffer.items.isEmpty { oldest.withLock { $0 = .now } }
            buffer.items += items
            buffer.bytes += size
            return true
        }
        if !accepted { dropped.add(items.count, ordering: .relaxed) }
    }

    /// Bytes an item holds (a platform record is rendered later; it is a few hundred bytes).
    static func size(_ item: Pending) -> Int {
        switch item {
        case .ready(let event): event.message.utf8.count + event.stream.utf8.count + 64
        case .deferred: 512
        }
    }

    /// Events waiting to be written.
    public var pending: Int { buffer.withLock { $0.items.count } }

    /// How long the oldest waiting event has waited (zero when none waits).
    public var lag: Duration { oldest.withLock { $0.map { ContinuousClock.now - $0 } } ?? .zero }

    /// Writes everything buffered so far.
    public func flush() async {
        while true {
            let pending = buffer.withLock { buffer -> [Pending] in
                let taken = Array(buffer.items.prefix(batchSize))
                buffer.items.removeFirst(taken.count)
                buffer.bytes -= taken.reduce(0) { $0 + Self.size($1) }
                // What is left was added after the batch: its age is measured from now on (a bound, not exact).
                oldest.withLock { $0 = buffer.items.isEmpty ? nil : .now }
                return taken
            }
            // Rendered on a Dispatch worker, not on the event loop that serves invocations (this task's executor):
            // formatting a few thousand REPORT lines a second would otherwise take turns with them.
            let batch = await withCheckedContinuation { continuation in
                DispatchQueue.global(qos: .utility).async {
                    continuation.resume(returning: pending.flatMap { item -> [LogEvent] in
                        switch item {
                        case .ready(let event): [event]
                        case .deferred(let group, let stream, let tenant, let timestamp, let render):
                            render().map { LogEvent(group: group, stream: stream, timestamp: timestamp, message: $0, tenant: tenant) }
                        }
                    })
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
