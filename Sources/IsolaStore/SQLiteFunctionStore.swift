import Foundation
import GRDB
import LambdaAPI

/// The default `FunctionStore`: one SQLite file in WAL mode with `synchronous=FULL`, so a write that was
/// acknowledged survives `kill -9` and power loss alike. Schema changes are versioned migrations.
public final class SQLiteFunctionStore: FunctionStore {
    let pool: DatabasePool

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: functions, versions, aliases, meta") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE functions (
                    name TEXT PRIMARY KEY NOT NULL,
                    tenancy_mode TEXT,
                    tags_json TEXT NOT NULL,
                    reserved_concurrency INTEGER,
                    last_published_version INTEGER NOT NULL
                );
                CREATE TABLE versions (
                    function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                    version TEXT NOT NULL,
                    sort_key INTEGER NOT NULL,
                    configuration_json TEXT NOT NULL,
                    code_digest TEXT NOT NULL,
                    code_size INTEGER NOT NULL,
                    unzipped_size INTEGER NOT NULL,
                    PRIMARY KEY (function_name, version)
                );
                CREATE INDEX versions_by_code ON versions(code_digest);
                CREATE TABLE aliases (
                    function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    configuration_json TEXT NOT NULL,
                    PRIMARY KEY (function_name, name)
                );
                """)
        }
        registerEventMigrations(&migrator)
        registerUsageMigrations(&migrator)
        registerRouteMigrations(&migrator)
        return migrator
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any FunctionStoreReading) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteTransaction(db: db)) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any FunctionStoreWriting) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteTransaction(db: db)) }
    }

    /// A value recorded once for the life of the data directory (e.g. the account and region it serves).
    /// Returns the stored value, storing `proposed` if there was none.
    public func pinMeta(_ key: String, proposed: String) async throws -> String {
        try await pool.write { db in
            if let existing = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = ?", arguments: [key]) {
                return existing
            }
            try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?)", arguments: [key, proposed])
            return proposed
        }
    }
}

/// Both protocols over one GRDB connection inside a transaction.
struct SQLiteTransaction: FunctionStoreWriting {
    let db: Database

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try Self.encoder.encode(value), as: UTF8.self)
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    func functionRecord(_ row: Row) throws -> FunctionRecord {
        FunctionRecord(
            name: row["name"],
            tenancy: (row["tenancy_mode"] as String?).map(TenancyConfig.init(tenantIsolationMode:)),
            tags: try decode([String: String].self, row["tags_json"]),
            reservedConcurrency: row["reserved_concurrency"],
            lastPublishedVersion: row["last_published_version"]
        )
    }

    func versionRecord(_ row: Row) throws -> VersionRecord {
        VersionRecord(
            functionName: row["function_name"],
            version: row["version"],
            configuration: try decode(FunctionConfiguration.self, row["configuration_json"]),
            codeDigest: row["code_digest"],
            unzippedSize: row["unzipped_size"]
        )
    }

    func aliasRecord(_ row: Row) throws -> AliasRecord {
        AliasRecord(functionName: row["function_name"], configuration: try decode(AliasConfiguration.self, row["configuration_json"]))
    }

    func function(_ name: String) throws -> FunctionRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM functions WHERE name = ?", arguments: [name]).map(functionRecord)
    }

    func functions(after marker: String?, limit: Int) throws -> [FunctionRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM functions WHERE name > ? ORDER BY name LIMIT ?", arguments: [marker ?? "", limit])
            .map(functionRecord)
    }

    func version(_ version: String, of function: String) throws -> VersionRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM versions WHERE function_name = ? AND version = ?", arguments: [function, version])
            .map(versionRecord)
    }

    func versions(of function: String) throws -> [VersionRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM versions WHERE function_name = ? ORDER BY sort_key", arguments: [function])
            .map(versionRecord)
    }

    func alias(_ name: String, of function: String) throws -> AliasRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM aliases WHERE function_name = ? AND name = ?", arguments: [function, name])
            .map(aliasRecord)
    }

    func aliases(of function: String) throws -> [AliasRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM aliases WHERE function_name = ? ORDER BY name", arguments: [function]).map(aliasRecord)
    }

    func totals() throws -> StoreTotals {
        let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM functions") ?? 0
        let size = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(code_size), 0) FROM versions") ?? 0
        let reserved = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(reserved_concurrency), 0) FROM functions") ?? 0
        return StoreTotals(functionCount: count, totalCodeSize: size, reservedConcurrency: reserved)
    }

    func isCodeReferenced(_ digest: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM versions WHERE code_digest = ?)", arguments: [digest]) ?? false
    }

    func referencedCodeDigests() throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT DISTINCT code_digest FROM versions"))
    }

    func save(_ function: FunctionRecord) throws {
        try db.execute(
            sql: """
                INSERT INTO functions (name, tenancy_mode, tags_json, reserved_concurrency, last_published_version)
                VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET tags_json = excluded.tags_json,
                    reserved_concurrency = excluded.reserved_concurrency,
                    last_published_version = excluded.last_published_version
                """,
            // tenancy_mode is deliberately absent from the update: it is fixed at creation.
            arguments: [function.name, function.tenancy?.tenantIsolationMode, try json(function.tags), function.reservedConcurrency, function.lastPublishedVersion]
        )
    }

    func save(_ version: VersionRecord) throws {
        let sortKey = version.version == "$LATEST" ? 0 : (Int(version.version) ?? 0)
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO versions (function_name, version, sort_key, configuration_json, code_digest, code_size, unzipped_size)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                version.functionName, version.version, sortKey, try json(version.configuration), version.codeDigest,
                version.configuration.codeSize, version.unzippedSize,
            ]
        )
    }

    func save(_ alias: AliasRecord) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO aliases (function_name, name, configuration_json) VALUES (?, ?, ?)",
            arguments: [alias.functionName, alias.configuration.name, try json(alias.configuration)]
        )
    }

    func deleteFunction(_ name: String) throws {
        try db.execute(sql: "DELETE FROM functions WHERE name = ?", arguments: [name])
    }

    func deleteVersion(_ version: String, of function: String) throws {
        try db.execute(sql: "DELETE FROM versions WHERE function_name = ? AND version = ?", arguments: [function, version])
        try deleteEventInvokeConfig(version, of: function)
    }

    func deleteAlias(_ name: String, of function: String) throws {
        try db.execute(sql: "DELETE FROM aliases WHERE function_name = ? AND name = ?", arguments: [function, name])
        try deleteEventInvokeConfig(name, of: function)
    }

    func eventInvokeConfigRecord(_ row: Row) -> EventInvokeConfigRecord {
        EventInvokeConfigRecord(
            functionName: row["function_name"], qualifier: row["qualifier"], maximumRetryAttempts: row["maximum_retry_attempts"],
            maximumEventAgeInSeconds: row["maximum_event_age_seconds"], lastModified: Date(timeIntervalSince1970: row["last_modified"])
        )
    }

    func eventInvokeConfig(_ qualifier: String, of function: String) throws -> EventInvokeConfigRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?", arguments: [function, qualifier])
            .map(eventInvokeConfigRecord)
    }

    func eventInvokeConfigs(of function: String) throws -> [EventInvokeConfigRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM event_invoke_configs WHERE function_name = ? ORDER BY qualifier", arguments: [function])
            .map(eventInvokeConfigRecord)
    }

    func save(_ config: EventInvokeConfigRecord) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO event_invoke_configs (function_name, qualifier, maximum_retry_attempts, maximum_event_age_seconds, last_modified)
                VALUES (?, ?, ?, ?, ?)
                """,
            arguments: [config.functionName, config.qualifier, config.maximumRetryAttempts, config.maximumEventAgeInSeconds, config.lastModified.timeIntervalSince1970]
        )
    }

    func deleteEventInvokeConfig(_ qualifier: String, of function: String) throws {
        try db.execute(sql: "DELETE FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?", arguments: [function, qualifier])
    }
}
