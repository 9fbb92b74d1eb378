import Foundation
import GRDB

/// Log groups, streams and events in their own SQLite file (`<data>/db/logs.sqlite`), apart from the function
/// store: log writes are many and batched, and losing the last second of them in a power cut is acceptable
/// (WAL with `synchronous=NORMAL`), where function metadata must not lose anything.
public final class SQLiteLogStore: LogStore {
    let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: groups, streams, events") { db in
            try db.execute(sql: """
                CREATE TABLE log_groups (
                    name TEXT PRIMARY KEY NOT NULL, creation_time INTEGER NOT NULL, retention_days INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE log_streams (
                    group_name TEXT NOT NULL REFERENCES log_groups(name) ON DELETE CASCADE,
                    name TEXT NOT NULL, creation_time INTEGER NOT NULL,
                    first_event INTEGER, last_event INTEGER, last_ingestion INTEGER, stored_bytes INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (group_name, name)
                );
                CREATE TABLE log_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    group_name TEXT NOT NULL, stream TEXT NOT NULL, timestamp INTEGER NOT NULL, ingestion INTEGER NOT NULL, message TEXT NOT NULL
                );
                CREATE INDEX log_events_by_stream ON log_events(group_name, stream, timestamp, id);
                CREATE INDEX log_events_by_group ON log_events(group_name, timestamp, id);
                """)
        }
        migrator.registerMigration("v2: the tenant of each stream") { db in
            try db.execute(sql: "ALTER TABLE log_streams ADD COLUMN tenant TEXT")
        }
        try migrator.migrate(pool)
    }

    static func groupRecord(_ row: Row) -> LogGroupRecord {
        LogGroupRecord(name: row["name"], creationTime: row["creation_time"], retentionInDays: row["retention_days"], storedBytes: row["stored_bytes"])
    }

    static func streamRecord(_ row: Row) -> LogStreamRecord {
        LogStreamRecord(
            group: row["group_name"], name: row["name"], creationTime: row["creation_time"], firstEventTimestamp: row["first_event"],
            lastEventTimestamp: row["last_event"], lastIngestionTime: row["last_ingestion"], storedBytes: row["stored_bytes"], tenant: row["tenant"]
        )
    }

    static func event(_ row: Row) -> LogEvent {
        var event = LogEvent(group: row["group_name"], stream: row["stream"], timestamp: row["timestamp"], message: row["message"])
        event.id = row["id"]
        event.ingestionTime = row["ingestion"]
        return event
    }

    public func createGroup(_ name: String, now: Int64) async throws {
        try await pool.write { db in
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM log_groups WHERE name = ?)", arguments: [name]) == true {
                throw LogsError.groupExists
            }
            try db.execute(sql: "INSERT INTO log_groups (name, creation_time) VALUES (?, ?)", arguments: [name, now])
        }
    }

    public func ensureGroup(_ name: String, now: Int64) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO log_groups (name, creation_time) VALUES (?, ?)", arguments: [name, now])
        }
    }

    public func deleteGroup(_ name: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM log_groups WHERE name = ?", arguments: [name])
            guard db.changesCount > 0 else { throw LogsError.groupNotFound }
            try db.execute(sql: "DELETE FROM log_events WHERE group_name = ?", arguments: [name])
        }
    }

    public func setRetention(_ group: String, days: Int?) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE log_groups SET retention_days = ? WHERE name = ?", arguments: [days, group])
            guard db.changesCount > 0 else { throw LogsError.groupNotFound }
        }
    }

    public func groups(prefix: String?, after: String?, limit: Int) async throws -> [LogGroupRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM log_groups WHERE name > ? AND (? IS NULL OR substr(name, 1, length(?)) = ?) ORDER BY name LIMIT ?",
                arguments: [after ?? "", prefix, prefix, prefix, limit]
            ).map(Self.groupRecord)
        }
    }

    public func group(_ name: String) async throws -> LogGroupRecord? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM log_groups WHERE name = ?", arguments: [name]).map(Self.groupRecord) }
    }

    public func append(_ events: [LogEvent], now: Int64) async throws {
        guard !events.isEmpty else { return }
        try await pool.write { db in
            var streams: [String: (group: String, stream: String, first: Int64, last: Int64, bytes: Int64, tenant: String?)] = [:]
            for group in Set(events.map(\.group)) {
                try db.execute(sql: "INSERT OR IGNORE INTO log_groups (name, creation_time) VALUES (?, ?)", arguments: [group, now])
            }
            let insert = try db.makeStatement(sql: "INSERT INTO log_events (group_name, stream, timestamp, ingestion, message) VALUES (?, ?, ?, ?, ?)")
            for event in events {
                try insert.execute(arguments: [event.group, event.stream, event.timestamp, now, event.message])
                let key = event.group + "\u{0}" + event.stream
                let bytes = Int64(event.message.utf8.count)
                if let current = streams[key] {
                    streams[key] = (current.group, current.stream, min(current.first, event.timestamp), max(current.last, event.timestamp), current.bytes + bytes, current.tenant ?? event.tenant)
                } else {
                    streams[key] = (event.group, event.stream, event.timestamp, event.timestamp, bytes, event.tenant)
                }
            }
            for stream in streams.values {
                try db.execute(
                    sql: """
                        INSERT INTO log_streams (group_name, name, creation_time, first_event, last_event, last_ingestion, stored_bytes, tenant)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (group_name, name) DO UPDATE SET
                            first_event = min(COALESCE(first_event, excluded.first_event), excluded.first_event),
                            last_event = max(COALESCE(last_event, excluded.last_event), excluded.last_event),
                            last_ingestion = excluded.last_ingestion,
                            stored_bytes = stored_bytes + excluded.stored_bytes,
                            tenant = COALESCE(tenant, excluded.tenant)
                        """,
                    arguments: [stream.group, stream.stream, now, stream.first, stream.last, now, stream.bytes, stream.tenant]
                )
                try db.execute(sql: "UPDATE log_groups SET stored_bytes = stored_bytes + ? WHERE name = ?", arguments: [stream.bytes, stream.group])
            }
        }
    }

    public func streams(group: String, prefix: String?, orderByLastEvent: Bool, descending: Bool, offset: Int, limit: Int) async throws -> [LogStreamRecord] {
        try await pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM log_groups WHERE name = ?)", arguments: [group]) == true else {
                throw LogsError.groupNotFound
            }
            let order = orderByLastEvent ? "COALESCE(last_event, 0) \(descending ? "DESC" : "ASC"), name" : "name \(descending ? "DESC" : "ASC")"
            return try Row.fetchAll(
                db, sql: "SELECT * FROM log_streams WHERE group_name = ? AND (? IS NULL OR substr(name, 1, length(?)) = ?) ORDER BY \(order) LIMIT ? OFFSET ?",
                arguments: [group, prefix, prefix, prefix, limit, offset]
            ).map(Self.streamRecord)
        }
    }

    public func events(group: String, stream: String, start: Int64?, end: Int64?, after: Int64?, before: Int64?, fromHead: Bool, limit: Int) async throws -> [LogEvent] {
        try await pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM log_streams WHERE group_name = ? AND name = ?)", arguments: [group, stream]) == true else {
                throw try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM log_groups WHERE name = ?)", arguments: [group]) == true
                    ? LogsError.streamNotFound : LogsError.groupNotFound
            }
            // Newest-first when reading from the tail (or backward), then returned oldest first, as CloudWatch does.
            let backward = before != nil || (after == nil && !fromHead)
            var sql = "SELECT * FROM log_events WHERE group_name = ? AND stream = ? AND timestamp >= ? AND timestamp < ?"
            var arguments: StatementArguments = [group, stream, start ?? Int64.min, end ?? Int64.max]
            if let after {
                sql += " AND id > ?"
                arguments += [after]
            }
            if let before {
                sql += " AND id < ?"
                arguments += [before]
            }
            sql += backward ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id ASC LIMIT ?"
            arguments += [limit]
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.event)
            return backward ? rows.reversed() : rows
        }
    }

    public func filter(group: String, streams: [String]?, streamPrefix: String?, tenant: String?, start: Int64?, end: Int64?, after: Int64?, limit: Int, scanLimit: Int, keep: @Sendable (LogEvent) -> Bool) async throws -> LogEventPage {
        try await pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM log_groups WHERE name = ?)", arguments: [group]) == true else {
                throw LogsError.groupNotFound
            }
            var sql = "SELECT * FROM log_events WHERE group_name = ? AND timestamp >= ? AND timestamp < ? AND id > ?"
            var arguments: StatementArguments = [group, start ?? Int64.min, end ?? Int64.max, after ?? 0]
            if let streams {
                sql += " AND stream IN (\(Array(repeating: "?", count: streams.count).joined(separator: ",")))"
                arguments += StatementArguments(streams)
            }
            if let streamPrefix {
                sql += " AND substr(stream, 1, length(?)) = ?"
                arguments += [streamPrefix, streamPrefix]
            }
            if let tenant {
                sql += " AND stream IN (SELECT name FROM log_streams WHERE group_name = ? AND tenant = ?)"
                arguments += [group, tenant]
            }
            sql += " ORDER BY id LIMIT ?"
            arguments += [scanLimit]
            let cursor = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            var matched: [LogEvent] = []
            var lastScanned: Int64?
            var scanned = 0
            while let row = try cursor.next() {
                let event = Self.event(row)
                scanned += 1
                lastScanned = event.id
                if keep(event) {
                    matched.append(event)
                    if matched.count == limit { break }
                }
            }
            // More may follow if the page filled up or the scan stopped at its limit.
            let more = matched.count == limit || scanned == scanLimit
            return LogEventPage(events: matched, next: more ? lastScanned : nil)
        }
    }

    public func enforceRetention(now: Int64, maximumAgeDays: Int) async throws -> Int {
        try await pool.write { db in
            let day: Int64 = 86_400_000
            try db.execute(sql: "DELETE FROM log_events WHERE timestamp < ?", arguments: [now - Int64(maximumAgeDays) * day])
            var removed = db.changesCount
            for row in try Row.fetchAll(db, sql: "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL") {
                let days: Int = row["retention_days"]
                try db.execute(sql: "DELETE FROM log_events WHERE group_name = ? AND timestamp < ?", arguments: [row["name"] as String, now - Int64(days) * day])
                removed += db.changesCount
            }
            if removed > 0 {
                // Stream and group sizes follow what is left.
                try db.execute(sql: """
                    UPDATE log_streams SET stored_bytes = COALESCE((SELECT SUM(length(CAST(message AS BLOB))) FROM log_events
                        WHERE log_events.group_name = log_streams.group_name AND log_events.stream = log_streams.name), 0);
                    UPDATE log_groups SET stored_bytes = COALESCE((SELECT SUM(stored_bytes) FROM log_streams WHERE group_name = log_groups.name), 0);
                    """)
            }
            return removed
        }
    }
}
