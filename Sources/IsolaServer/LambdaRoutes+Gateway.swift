import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaGateway
import IsolaStore
import LambdaAPI

/// `/isola/v1/routes`: the gateway's routes (create, list, delete), SigV4-signed like the rest of the API.
extension LambdaRoutes {
    var gatewayRoutes: [Route] {
        [
            Route(.post, "isola/v1/routes", "CreateRoute") { request, _ in
                let input = try request.decode(CreateRouteRequest.self)
                let record = try await createRoute(input)
                return try .json(RouteShape(record), status: .created)
            },
            Route(.get, "isola/v1/routes", "ListRoutes") { _, _ in
                try .json(["Routes": try await routeStore.routes().map { RouteShape($0) }])
            },
            Route(.delete, "isola/v1/routes/{R}", "DeleteRoute") { _, p in
                let id = p["{R}"] ?? ""
                guard try await routeStore.deleteRoute(id) else {
                    throw LambdaError(.resourceNotFound, "No route with id '\(id)'. List them with `isola routes` (GET /isola/v1/routes).")
                }
                try await routesChanged()
                return .empty()
            },
        ]
    }

    func createRoute(_ input: CreateRouteRequest) async throws -> GatewayRouteRecord {
        guard let keyText = input.routeKey, !keyText.isEmpty else {
            throw LambdaError.validation([ConstraintViolation(value: "null", field: "routeKey", constraint: "Member must not be null")])
        }
        let key: RouteKey
        do { key = try RouteKey(keyText) } catch { throw LambdaError(.invalidParameterValue, error.description) }
        guard let function = input.functionName, !function.isEmpty else {
            throw LambdaError.validation([ConstraintViolation(value: "null", field: "functionName", constraint: "Member must not be null")])
        }
        let format = input.payloadFormat ?? "1.0"
        guard format == "1.0" || format == "2.0" else {
            throw LambdaError.validation([ConstraintViolation(value: format, field: "payloadFormat", constraint: "Member must satisfy enum value set: [1.0, 2.0]")])
        }
        for (field, name) in [("tenantHeader", input.tenantHeader), ("tenantQuery", input.tenantQuery), ("tenantPathParameter", input.tenantPathParameter)] {
            if let name, name.isEmpty || HTTPField.Name(name) == nil {
                throw LambdaError(.invalidParameterValue, "\(field) '\(name)' is not a valid name: use letters, digits and '-' or '_'.")
            }
        }
        if let parameter = input.tenantPathParameter, !key.segments.contains(where: { $0 == .parameter(parameter) || $0 == .greedy(parameter) }) {
            throw LambdaError(.invalidParameterValue, "tenantPathParameter '\(parameter)' is not a parameter of the route '\(keyText)': add {\(parameter)} to its path.")
        }
        // The function (and qualifier) must exist now; the gateway answers 500 if it is deleted later, as API Gateway does.
        _ = try await controlPlane.resolve(try FunctionReference.parse(function, maxLength: 140).qualified(by: input.qualifier))
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let record = GatewayRouteRecord(
            id: String((0..<7).map { _ in alphabet.randomElement() ?? "a" }), routeKey: key.text, functionName: function, qualifier: input.qualifier,
            tenantHeader: input.tenantHeader, tenantQuery: input.tenantQuery, tenantPathParameter: input.tenantPathParameter,
            tenantFromHostLabel: input.tenantHostLabel ?? false, payloadFormat: format, createdAt: clock()
        )
        do {
            try await routeStore.createRoute(record)
        } catch let conflict as RouteConflict {
            throw LambdaError(.resourceConflict, "A route with key '\(key.text)' exists (id \(conflict.existing.id)). Delete it first: isola delete-route \(conflict.existing.id)")
        }
        try await routesChanged()
        return record
    }
}

struct CreateRouteRequest: Decodable {
    var routeKey, functionName, qualifier, tenantHeader, tenantQuery, tenantPathParameter, payloadFormat: String?
    var tenantHostLabel: Bool?

    enum CodingKeys: String, CodingKey {
        case routeKey = "RouteKey", functionName = "FunctionName", qualifier = "Qualifier", tenantHeader = "TenantHeader"
        case tenantQuery = "TenantQuery", tenantPathParameter = "TenantPathParameter", payloadFormat = "PayloadFormat", tenantHostLabel = "TenantHostLabel"
    }
}

/// A route as the API shows it; the tenant sources are spelled out with their defaults.
struct RouteShape: Encodable {
    var routeId, routeKey, functionName, payloadFormat, createdAt: String
    var qualifier: String?
    var tenantSources: [String]

    init(_ record: GatewayRouteRecord) {
        routeId = record.id
        routeKey = record.routeKey
        functionName = record.functionName
        qualifier = record.qualifier
        payloadFormat = record.payloadFormat
        createdAt = LambdaTimestamp.string(from: record.createdAt)
        var sources = ["header \(record.tenantHeader ?? TenantMapping.defaultHeader)", "query \(record.tenantQuery ?? TenantMapping.defaultQuery)"]
        if let parameter = record.tenantPathParameter { sources.append("path {\(parameter)}") }
        if record.tenantFromHostLabel { sources.append("host label") }
        tenantSources = sources
    }

    enum CodingKeys: String, CodingKey {
        case routeId = "RouteId", routeKey = "RouteKey", functionName = "FunctionName", payloadFormat = "PayloadFormat"
        case createdAt = "CreatedAt", qualifier = "Qualifier", tenantSources = "TenantSources"
    }
}
