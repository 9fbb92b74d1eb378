import ArgumentParser
import Foundation

/// `isola create-route`: put a function behind the tenant-aware HTTP gateway.
struct CreateRouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-route",
        abstract: "Route gateway requests to a function (API Gateway's Lambda proxy integration, tenant mapped for you).",
        discussion: """
            The gateway (isola serve --gateway-port, default 9080) sends matching requests to the function as API
            Gateway's proxy integration does. For a PER_TENANT function the tenant comes from the X-Tenant-ID header,
            else the tenant-id query parameter, with no configuration; the options below choose other sources. A
            client's own X-Amz-Tenant-Id is never trusted.

            Route keys as API Gateway writes them: "GET /orders/{id}", "ANY /dev", "ANY /{proxy+}", "$default";
            the most specific route wins.

            Examples:
              isola create-route --route-key "ANY /dev" --function-name tenant-demo
              curl http://127.0.0.1:9080/dev -H "X-Tenant-ID: 7"
              isola create-route --route-key "GET /t/{tenant}/orders" --function-name orders --tenant-path-param tenant
              isola create-route --route-key '$default' --function-name site --tenant-host-label --payload-format 2.0
            """
    )

    @OptionGroup var options: EndpointOptions

    @Option(help: "API Gateway's route key, e.g. \"ANY /dev\", \"GET /orders/{id}\", \"$default\".")
    var routeKey: String

    @Option(help: "The function to invoke.")
    var functionName: String

    @Option(help: "A version or alias (default $LATEST).")
    var qualifier: String?

    @Option(help: "Take the tenant from this header (default X-Tenant-ID).")
    var tenantHeader: String?

    @Option(help: "Take the tenant from this query parameter (default tenant-id).")
    var tenantQuery: String?

    @Option(help: "Take the tenant from this path parameter of the route key.")
    var tenantPathParam: String?

    @Flag(help: "Take the tenant from the first label of the Host name (blue.api.example.com -> blue).")
    var tenantHostLabel = false

    @Option(help: "1.0 (REST API proxy events, default) or 2.0 (HTTP API events).")
    var payloadFormat = "1.0"

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            var body: [String: Any] = ["RouteKey": routeKey, "FunctionName": functionName, "PayloadFormat": payloadFormat, "TenantHostLabel": tenantHostLabel]
            if let qualifier { body["Qualifier"] = qualifier }
            if let tenantHeader { body["TenantHeader"] = tenantHeader }
            if let tenantQuery { body["TenantQuery"] = tenantQuery }
            if let tenantPathParam { body["TenantPathParameter"] = tenantPathParam }
            let reply = try await client.send("POST", "/isola/v1/routes", headers: ["Content-Type": "application/json"], body: try JSONSerialization.data(withJSONObject: body))
            let route = try JSONDecoder().decode(RouteRow.self, from: reply.body)
            print("Created route \(route.routeId): \(route.routeKey) -> \(route.functionName)\(route.qualifier.map { ":\($0)" } ?? "") (tenant from \(route.tenantSources.joined(separator: ", then ")))")
        }
    }
}

/// `isola routes`: the gateway's routes as a table.
struct RoutesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "List the gateway's routes.",
        discussion: """
            Examples:
              isola routes
              isola routes --endpoint http://10.0.0.5:9000
            """
    )

    @OptionGroup var options: EndpointOptions

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            let reply = try await client.send("GET", "/isola/v1/routes")
            let routes = try JSONDecoder().decode(RouteList.self, from: reply.body).routes
            guard !routes.isEmpty else {
                print("No routes. Create one with: isola create-route --route-key \"ANY /dev\" --function-name NAME")
                return
            }
            let rows = routes.map { [$0.routeId, $0.routeKey, $0.functionName + ($0.qualifier.map { ":\($0)" } ?? ""), $0.payloadFormat, $0.tenantSources.joined(separator: ", ")] }
            print(TextTable.render(header: ["ID", "ROUTE KEY", "FUNCTION", "PAYLOAD", "TENANT FROM"], rows: rows))
        }
    }
}

/// `isola delete-route ID`.
struct DeleteRouteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete-route",
        abstract: "Delete a gateway route by its id (see isola routes).",
        discussion: """
            Examples:
              isola delete-route k3j9x2a
            """
    )

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The route's id.")
    var routeId: String

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            _ = try await client.send("DELETE", "/isola/v1/routes/\(routeId)")
            print("Deleted route \(routeId).")
        }
    }
}

struct RouteRow: Decodable {
    var routeId, routeKey, functionName, payloadFormat: String
    var qualifier: String?
    var tenantSources: [String]

    enum CodingKeys: String, CodingKey {
        case routeId = "RouteId", routeKey = "RouteKey", functionName = "FunctionName", payloadFormat = "PayloadFormat"
        case qualifier = "Qualifier", tenantSources = "TenantSources"
    }
}

struct RouteList: Decodable {
    var routes: [RouteRow]
    enum CodingKeys: String, CodingKey { case routes = "Routes" }
}
