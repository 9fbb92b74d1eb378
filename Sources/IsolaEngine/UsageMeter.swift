import Foundation
import IsolaStore
import Logging
import Synchronization

/// What the usage report charges, per unit. Defaults: AWS Lambda's x86 list prices (us-east-1), including the
/// tenant-isolation charge per environment created. `--price-table FILE` (JSON with these keys) overrides them.
public struct PriceTable: Sendable, Equatable, Codable {
    public var requestsPerMillionUsd = 0.20
    public var computePerGbSecondUsd = 0.0000166667
    public var isolationPerGbEnvironmentUsd = 0.000167

    public init() {}

    /// Members left out keep their defaults.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = PriceTable()
        requestsPerMillionUsd = try container.decodeIfPresent(Double.self, forKey: .requestsPerMillionUsd) ?? defaults.requestsPerMillionUsd
        computePerGbSecondUsd = try container.decodeIfPresent(Double.self, forKey: .computePerGbSecondUsd) ?? defaults.computePerGbSecondUsd
        isolationPerGbEnvironmentUsd = try container.decodeIfPresent(Double.self, forKey: .isolationPerGbEnvironmentUsd) ?? defaults.isolationPerGbEnvironmentUsd
    }
}

/// One (function, tenant) row of the usage report, priced.
public struct UsageRow: Sendable, Equatable, Codable {
    public var function: String
    /// nil for an ordinary function (no tenant).
    public var tenant: String?
    public var invocations: Int
    public var errors: Int
    public var throttles: Int
    public var coldStarts: Int
    public var environmentsCreated: Int
    public var durationMs: Double
    public var billedGbSeconds: Double
    public var requestChargeUsd: Double
    public var computeChargeUsd: Double
    public var isolationChargeUsd: Double
    public var totalChargeUsd: Double

    public init(function: String, tenant: String?, counters c: UsageCounters, prices: PriceTable) {
        self.function = function
        self.tenant = tenant
        invocations = c.invocations
        errors = c.errors
        throttles = c.throttles
        coldStarts = c.coldStarts
        environmentsCreated = c.environmentsCreated
        durationMs = (c.durationMs * 1000).rounded() / 1000
        billedGbSeconds = c.billedGbSeconds
        requestChargeUsd = Double(c.invocations) * prices.requestsPerMillionUsd / 1_000_000
        computeChargeUsd = c.billedGbSeconds * prices.computePerGbSecondUsd
        isolationChargeUsd = c.environmentGb * prices.isolationPerGbEnvironmentUsd
        totalChargeUsd = requestChargeUsd + computeChargeUsd + isolationChargeUsd
    }
}

/// Meters every (function, tenant): invocations, errors, throttles, cold starts, environments created, duration
/// and billed GB-seconds. Recording is a lock and an addition on the invoke path; `run` adds the accumulated
/// counters to the store every `interval`, so the figures survive restarts (all but the last interval's after
/// a `kill -9`).
public final class UsageMeter: Sendable {
    let store: any UsageStore
    let interval: Duration
    let logger: Logger
    private let pending = Mutex<[UsageKey: UsageCounters]>([:])

    public init(store: any UsageStore, interval: Duration = .seconds(1), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    static func hour(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 / 3600) }

    func record(function: String, tenant: String?, at date: Date = Date(), _ change: (inout UsageCounters) -> Void) {
        let key = UsageKey(function: function, tenant: tenant ?? "", hour: Self.hour(date))
        pending.withLock { change(&$0[key, default: UsageCounters()]) }
    }

    public func flush() async {
        let batch = pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.add(batch)
        } catch {
            logger.error("cannot record usage; adding it back for the next try", metadata: ["error": "\(error)"])
            pending.withLock { pending in for (key, counters) in batch { pending[key, default: UsageCounters()] += counters } }
        }
    }

    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        await flush()
    }

    /// The report: one row per (function, tenant) with charges, most expensive first. Includes what is not flushed yet.
    public func report(function: String?, tenant: String?, since: Date?, until: Date?, prices: PriceTable) async throws -> [UsageRow] {
        await flush()
        let rows = try await store.usage(
            function: function, tenant: tenant, sinceHour: since.map(Self.hour), untilHour: until.map { Self.hour($0.addingTimeInterval(3599)) }
        )
        return rows.map { UsageRow(function: $0.function, tenant: $0.tenant.isEmpty ? nil : $0.tenant, counters: $0.counters, prices: prices) }
            .sorted { ($0.totalChargeUsd, $0.function, $0.tenant ?? "") > ($1.totalChargeUsd, $1.function, $1.tenant ?? "") }
    }
}
