import Foundation
import GRDB

/// The queue of asynchronous invocations and their failure records, in the same SQLite file (WAL,
/// `synchronous=FULL`): an event acknowledged with 202 survives `kill -9`.
extension SQLiteFunctionStore: AsyncEventQueue {
    static func registerEventMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2: event invoke configs, async event queue, failed events") { db in
            try db.execute(sql: """
                CREATE TABLE event_invoke_configs (
                    function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                    qualifier TEXT NOT NULL,
                    maximum_retry_attempts INTEGER,
                    maximum_event_age_seconds INTEGER,
                    last_modified REAL NOT NULL,
                    PRIMARY KEY (function_name, qualifier)
                );
                CREATE TABLE async_events (
                    id TEXT PRIMARY KEY NOT NULL,
                    function_name TEXT NOT NULL,
                    qualifier TEXT NOT NULL,
                    tenant_id TEXT,
                    payload BLOB NOT NULL,
                    enqueued_at REAL NOT NULL,
                    attempts INTEGER NOT NULL,
                    not_before REAL NOT NULL,
                    last_error_type TEXT
                );
                CREATE INDEX async_events_due ON async_events(not_before);
                CREATE TABLE failed_events (
                    id TEXT PRIMARY KEY NOT NULL,
                    function_name TEXT NOT NULL,
                    qualifier TEXT NOT NULL,
                    tenant_id TEXT,
                    payload BLOB NOT NULL,
                    enqueued_at REAL NOT NULL,
                    attempts INTEGER NOT NULL,
                    last_error_type TEXT,
                    failed_at REAL NOT NULL,
                    reason TEXT NOT NULL
                );
                CREATE INDEX failed_events_by_function ON failed_events(function_name, failed_at);
                """)
        }
    }

    static func queuedEvent(_ row: Row) -> QueuedEvent {
        QueuedEvent(
            id: row["id"], functionName: row["function_name"], qualifier: row["qualifier"], tenantId: row["tenant_id"],
            payload: row["payload"], enqueuedAt: Date(timeIntervalSince1970: row["enqueued_at"]), attempts: row["attempts"],
            notBefore: Date(timeIntervalSince1970: row["not_before"] ?? (row["enqueued_at"] as Double)),
            lastErrorType: row["last_error_type"]
        )
    }

    public func enqueue(_ event: QueuedEvent) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO async_events (id, function_name, qualifier, tenant_id, payload, enqueued_at, attempts, not_before, last_error_type)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    event.id, event.functionName, event.qualifier, event.tenantId, event.payload, event.enqueuedAt.timeIntervalSince1970,
                    event.attempts, event.notBefore.timeIntervalSince1970, event.lastErrorType,
                ]
            )
        }
    }

    public func due(at now: Date, limit: Int, excluding: Set<String>) async throws -> [QueuedEvent] {
        // Reads the due ones in order and skips those in progress here: few are ever in progress at once.
        // Rows are turned into events inside the closure: a Sendable result selects GRDB's asynchronous read. (With
        // [Row] the synchronous overload was chosen, which blocked the event loop waiting for a reader while the
        // asynchronous reads holding every reader waited for that loop to resume them: a deadlock.)
        let events = try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM async_events WHERE not_before <= ? ORDER BY not_before, enqueued_at LIMIT ?",
                arguments: [now.timeIntervalSince1970, limit + excluding.count]
            ).map(Self.queuedEvent)
        }
        return Array(events.filter { !excluding.contains($0.id) }.prefix(limit))
    }

    public func nextDue() async throws -> Date? {
        try await pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(not_before) FROM async_events").map(Date.init(timeIntervalSince1970:))
        }
    }

    public func update(_ event: QueuedEvent) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE async_events SET attempts = ?, not_before = ?, last_error_type = ? WHERE id = ?",
                arguments: [event.attempts, event.notBefore.timeIntervalSince1970, event.lastErrorType, event.id]
            )
        }
    }

    public func remove(_ id: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM async_events WHERE id = ?", arguments: [id]) }
    }

    public func fail(_ event: QueuedEvent, reason: String, at: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO failed_events
                        (id, function_name, qualifier, tenant_id, payload, enqueued_at, attempts, last_error_type, failed_at, reason)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    event.id, event.functionName, event.qualifier, event.tenantId, event.payload, event.enqueuedAt.timeIntervalSince1970,
                    event.attempts, event.lastErrorType, at.timeIntervalSince1970, reason,
                ]
            )
            try db.execute(sql: "DELETE FROM async_events WHERE id = ?", arguments: [event.id])
        }
    }

    public func failedEvents(function: String?, limit: Int) async throws -> [FailedEvent] {
        try await pool.read { db in
            let rows = if let function {
                try Row.fetchAll(db, sql: "SELECT * FROM failed_events WHERE function_name = ? ORDER BY failed_at DESC LIMIT ?", arguments: [function, limit])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM failed_events ORDER BY failed_at DESC LIMIT ?", arguments: [limit])
            }
            return rows.map { row in
                var event = Self.queuedEvent(row)
                event.notBefore = event.enqueuedAt
                return FailedEvent(event: event, failedAt: Date(timeIntervalSince1970: row["failed_at"]), reason: row["reason"])
            }
        }
    }

    public func queuedCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM async_events") ?? 0 }
    }
}
