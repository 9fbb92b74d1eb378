import Foundation
import GRDB

/// What one (function, tenant) used in one hour. Tenant "" is an ordinary function's (no tenant).
public struct UsageCounters: Sendable, Equatable {
    public var invocations = 0
    public var errors = 0
    public var throttles = 0
    public var coldStarts = 0
    public var environmentsCreated = 0
    public var durationMs = 0.0
    public var billedGbSeconds = 0.0
    /// Sum of MemorySize in GB over the environments created: what the tenant-isolation charge is per.
    public var environmentGb = 0.0

    public init() {}

    public static func += (lhs: inout UsageCounters, rhs: UsageCounters) {
        lhs.invocations += rhs.invocations
        lhs.errors += rhs.errors
        lhs.throttles += rhs.throttles
        lhs.coldStarts += rhs.coldStarts
        lhs.environmentsCreated += rhs.environmentsCreated
        lhs.durationMs += rhs.durationMs
        lhs.billedGbSeconds += rhs.billedGbSeconds
        lhs.environmentGb += rhs.environmentGb
    }
}

public struct UsageKey: Sendable, Hashable {
    public var function: String
    public var tenant: String
    /// Hours since the epoch: usage is kept per hour.
    public var hour: Int64

    public init(function: String, tenant: String, hour: Int64) {
        self.function = function
        self.tenant = tenant
        self.hour = hour
    }
}

/// Per-tenant usage, durable across restarts, behind a small protocol like the other stores.
public protocol UsageStore: Sendable {
    /// Adds the counters to what is stored for each key.
    func add(_ usage: [UsageKey: UsageCounters]) async throws
    /// Totals per (function, tenant) over the hours in [since, until).
    func usage(function: String?, tenant: String?, sinceHour: Int64?, untilHour: Int64?) async throws -> [(function: String, tenant: String, counters: UsageCounters)]
}

extension SQLiteFunctionStore: UsageStore {
    static func registerUsageMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3: usage per function, tenant and hour") { db in
            try db.execute(sql: """
                CREATE TABLE usage_hourly (
                    function_name TEXT NOT NULL, tenant TEXT NOT NULL, hour INTEGER NOT NULL,
                    invocations INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, throttles INTEGER NOT NULL DEFAULT 0,
                    cold_starts INTEGER NOT NULL DEFAULT 0, environments_created INTEGER NOT NULL DEFAULT 0,
                    duration_ms REAL NOT NULL DEFAULT 0, billed_gb_seconds REAL NOT NULL DEFAULT 0, environment_gb REAL NOT NULL DEFAULT 0,
                    PRIMARY KEY (function_name, tenant, hour)
                );
                """)
        }
    }

    public func add(_ usage: [UsageKey: UsageCounters]) async throws {
        guard !usage.isEmpty else { return }
        try await pool.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO usage_hourly (function_name, tenant, hour, invocations, errors, throttles, cold_starts, environments_created, duration_ms, billed_gb_seconds, environment_gb)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (function_name, tenant, hour) DO UPDATE SET
                    invocations = invocations + excluded.invocations, errors = errors + excluded.errors, throttles = throttles + excluded.throttles,
                    cold_starts = cold_starts + excluded.cold_starts, environments_created = environments_created + excluded.environments_created,
                    duration_ms = duration_ms + excluded.duration_ms, billed_gb_seconds = billed_gb_seconds + excluded.billed_gb_seconds,
                    environment_gb = environment_gb + excluded.environment_gb
                """)
            for (key, c) in usage {
                try statement.execute(arguments: [
                    key.function, key.tenant, key.hour, c.invocations, c.errors, c.throttles, c.coldStarts, c.environmentsCreated,
                    c.durationMs, c.billedGbSeconds, c.environmentGb,
                ])
            }
        }
    }

    public func usage(function: String?, tenant: String?, sinceHour: Int64?, untilHour: Int64?) async throws -> [(function: String, tenant: String, counters: UsageCounters)] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT function_name, tenant, SUM(invocations) AS invocations, SUM(errors) AS errors, SUM(throttles) AS throttles,
                        SUM(cold_starts) AS cold_starts, SUM(environments_created) AS environments_created, SUM(duration_ms) AS duration_ms,
                        SUM(billed_gb_seconds) AS billed_gb_seconds, SUM(environment_gb) AS environment_gb
                    FROM usage_hourly
                    WHERE (? IS NULL OR function_name = ?) AND (? IS NULL OR tenant = ?) AND hour >= ? AND hour < ?
                    GROUP BY function_name, tenant ORDER BY function_name, tenant
                    """,
                arguments: [function, function, tenant, tenant, sinceHour ?? Int64.min, untilHour ?? Int64.max]
            )
            return rows.map { row in
                var c = UsageCounters()
                c.invocations = row["invocations"]
                c.errors = row["errors"]
                c.throttles = row["throttles"]
                c.coldStarts = row["cold_starts"]
                c.environmentsCreated = row["environments_created"]
                c.durationMs = row["duration_ms"]
                c.billedGbSeconds = row["billed_gb_seconds"]
                c.environmentGb = row["environment_gb"]
                return (row["function_name"], row["tenant"], c)
            }
        }
    }
}
