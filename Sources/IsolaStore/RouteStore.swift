import Foundation
import GRDB

/// One route of the tenant-aware HTTP gateway: which requests (an API Gateway route key) go to which function,
/// and where the tenant comes from.
public struct GatewayRouteRecord: Sendable, Equatable {
    public var id: String
    /// As API Gateway writes it: `GET /orders/{id}`, `ANY /dev`, `ANY /{proxy+}`, `$default`.
    public var routeKey: String
    public var functionName: String
    public var qualifier: String?
    /// Where the tenant comes from; nil members take the defaults (header `X-Tenant-ID`, then query `tenant-id`).
    public var tenantHeader: String?
    public var tenantQuery: String?
    public var tenantPathParameter: String?
    public var tenantFromHostLabel: Bool
    /// `1.0` (REST API proxy, the default) or `2.0` (HTTP API).
    public var payloadFormat: String
    public var createdAt: Date

    public init(
        id: String, routeKey: String, functionName: String, qualifier: String?, tenantHeader: String?, tenantQuery: String?,
        tenantPathParameter: String?, tenantFromHostLabel: Bool, payloadFormat: String, createdAt: Date
    ) {
        self.id = id
        self.routeKey = routeKey
        self.functionName = functionName
        self.qualifier = qualifier
        self.tenantHeader = tenantHeader
        self.tenantQuery = tenantQuery
        self.tenantPathParameter = tenantPathParameter
        self.tenantFromHostLabel = tenantFromHostLabel
        self.payloadFormat = payloadFormat
        self.createdAt = createdAt
    }
}

/// The gateway's routes, durable, behind a small protocol like the other stores.
public protocol RouteStore: Sendable {
    /// Throws `RouteConflict` when a route with the same key exists.
    func createRoute(_ route: GatewayRouteRecord) async throws
    func routes() async throws -> [GatewayRouteRecord]
    /// Returns false when there was no such route.
    func deleteRoute(_ id: String) async throws -> Bool
}

public struct RouteConflict: Error, Sendable {
    public var existing: GatewayRouteRecord
}

extension SQLiteFunctionStore: RouteStore {
    static func registerRouteMigrations(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4: gateway routes") { db in
            try db.execute(sql: """
                CREATE TABLE gateway_routes (
                    id TEXT PRIMARY KEY NOT NULL, route_key TEXT NOT NULL UNIQUE, function_name TEXT NOT NULL, qualifier TEXT,
                    tenant_header TEXT, tenant_query TEXT, tenant_path_parameter TEXT, tenant_host_label INTEGER NOT NULL,
                    payload_format TEXT NOT NULL, created_at REAL NOT NULL
                );
                """)
        }
    }

    static func route(_ row: Row) -> GatewayRouteRecord {
        GatewayRouteRecord(
            id: row["id"], routeKey: row["route_key"], functionName: row["function_name"], qualifier: row["qualifier"],
            tenantHeader: row["tenant_header"], tenantQuery: row["tenant_query"], tenantPathParameter: row["tenant_path_parameter"],
            tenantFromHostLabel: row["tenant_host_label"], payloadFormat: row["payload_format"], createdAt: Date(timeIntervalSince1970: row["created_at"])
        )
    }

    public func createRoute(_ route: GatewayRouteRecord) async throws {
        try await pool.write { db in
            if let existing = try Row.fetchOne(db, sql: "SELECT * FROM gateway_routes WHERE route_key = ?", arguments: [route.routeKey]) {
                throw RouteConflict(existing: Self.route(existing))
            }
            try db.execute(
                sql: """
                    INSERT INTO gateway_routes (id, route_key, function_name, qualifier, tenant_header, tenant_query, tenant_path_parameter, tenant_host_label, payload_format, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    route.id, route.routeKey, route.functionName, route.qualifier, route.tenantHeader, route.tenantQuery,
                    route.tenantPathParameter, route.tenantFromHostLabel, route.payloadFormat, route.createdAt.timeIntervalSince1970,
                ]
            )
        }
    }

    public func routes() async throws -> [GatewayRouteRecord] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM gateway_routes ORDER BY route_key").map(Self.route) }
    }

    public func deleteRoute(_ id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM gateway_routes WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }
}
