import CoreMetrics
import Synchronization

/// The engine's metrics, through swift-metrics with an explicit factory (the server passes Prometheus's; tests
/// pass none). Labels are functions and outcomes only: per-tenant detail lives in the usage report, so the
/// number of series stays flat with a million tenants.
public final class EngineMetrics: Sendable {
    let factory: any MetricsFactory
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        return counters.withLock { cache in
            if let existing = cache[key] { return existing }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    /// `outcome`: `success`, `error` (a function or platform error), `throttled`.
    func invocation(function: String, outcome: String, duration: Duration?, coldStart: Bool) {
        counter("isola_invocations_total", [("function", function), ("outcome", outcome)]).increment()
        if coldStart { counter("isola_cold_starts_total", [("function", function)]).increment() }
        if let duration {
            let timer = timers.withLock { cache in
                if let existing = cache[function] { return existing }
                let timer = Timer(label: "isola_invocation_duration_seconds", dimensions: [("function", function)], preferredDisplayUnit: .seconds, factory: factory)
                cache[function] = timer
                return timer
            }
            timer.recordNanoseconds(Int64(duration.inSeconds * 1e9))
        }
    }

    func environmentCreated(function: String) {
        counter("isola_environments_created_total", [("function", function)]).increment()
    }

    func throttled(function: String, reason: String) {
        counter("isola_throttles_total", [("function", function), ("reason", reason)]).increment()
    }
}
