import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaEngine
import IsolaStore
import LambdaAPI

/// One route: a method, a path pattern (`{F}`, `{N}`, `{R}` capture a segment) and its adapter.
struct Route: Sendable {
    typealias Handler = @Sendable (APIRequest, [String: String]) async throws -> APIResponse
    let method: HTTPRequest.Method
    let pattern: [String]
    let operation: String
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ path: String, _ operation: String, _ handler: @escaping Handler) {
        self.method = method
        self.pattern = path.split(separator: "/").map(String.init)
        self.operation = operation
        self.handler = handler
    }

    func match(_ segments: [String]) -> [String: String]? {
        guard segments.count == pattern.count else { return nil }
        var captures: [String: String] = [:]
        for (part, segment) in zip(pattern, segments) {
            if part.hasPrefix("{") { captures[part] = segment } else if part != segment { return nil }
        }
        return captures
    }
}

/// The Lambda control plane as HTTP adapters: decode -> validate -> call the control plane -> encode.
struct LambdaRoutes: Sendable {
    let controlPlane: ControlPlane
    let codeURLs: CodeURLSigner
    let invocations: any InvocationHandler
    /// The asynchronous invocations' queue, for its failure records.
    let events: any AsyncEventQueue
    /// Per-tenant usage and the prices it is charged at.
    let usage: UsageMeter
    let prices: PriceTable
    /// The gateway's routes, and what to call after they change (the gateway reloads them).
    let routeStore: any RouteStore
    let routesChanged: @Sendable () async throws -> Void
    let clock: @Sendable () -> Date
    /// Called after code, configuration or the function itself changed: its environments must not serve again.
    let functionChanged: @Sendable (String) async -> Void

    var routes: [Route] { functionRoutes + asyncRoutes + gatewayRoutes }

    var functionRoutes: [Route] {
        [
            Route(.post, "2015-03-31/functions", "CreateFunction") { request, _ in
                let input = try request.decode(CreateFunctionRequest.self)
                let validated = try Validation.validateCreate(input)
                return try .json(try await controlPlane.createFunction(validated), status: .created)
            },
            Route(.get, "2015-03-31/functions", "ListFunctions") { request, _ in
                let all = request.queryValue("FunctionVersion")
                if let all, all != "ALL" {
                    throw LambdaError.validation([ConstraintViolation(value: all, field: "functionVersion", constraint: "Member must satisfy enum value set: [ALL]")])
                }
                return try .json(
                    try await controlPlane.listFunctions(
                        marker: request.queryValue("Marker"), maxItems: try request.intQuery("MaxItems", field: "maxItems"), allVersions: all != nil
                    )
                )
            },
            Route(.get, "2015-03-31/functions/{F}", "GetFunction") { request, p in
                let reference = try functionReference(p, request, maxLength: 256)
                let authority = request.authority ?? "127.0.0.1"
                let now = clock()
                return try .json(try await controlPlane.getFunction(reference) { codeURLs.url(authority: authority, digest: $0, now: now) })
            },
            Route(.delete, "2015-03-31/functions/{F}", "DeleteFunction") { request, p in
                let reference = try functionReference(p, request, maxLength: 256)
                try await controlPlane.deleteFunction(reference)
                await functionChanged(reference.name)
                return .empty()
            },
            Route(.get, "2015-03-31/functions/{F}/configuration", "GetFunctionConfiguration") { request, p in
                let resolved = try await controlPlane.resolve(try functionReference(p, request, maxLength: 256))
                return try .json(resolved.renderedConfiguration(arns: controlPlane.arns))
            },
            Route(.put, "2015-03-31/functions/{F}/configuration", "UpdateFunctionConfiguration") { request, p in
                let input = try request.decode(UpdateFunctionConfigurationRequest.self)
                let updated = try await controlPlane.updateConfiguration(try functionReference(p, request), request: input)
                await functionChanged(updated.functionName)
                return try .json(updated)
            },
            Route(.put, "2015-03-31/functions/{F}/code", "UpdateFunctionCode") { request, p in
                let input = try request.decode(UpdateFunctionCodeRequest.self)
                let updated = try await controlPlane.updateCode(try functionReference(p, request), request: input)
                if input.dryRun != true { await functionChanged(updated.functionName) }
                return try .json(updated)
            },
            Route(.post, "2015-03-31/functions/{F}/versions", "PublishVersion") { request, p in
                let input = try request.decode(PublishVersionRequest.self)
                return try .json(try await controlPlane.publishVersion(try functionReference(p, request), request: input), status: .created)
            },
            Route(.get, "2015-03-31/functions/{F}/versions", "ListVersionsByFunction") { request, p in
                try .json(
                    try await controlPlane.listVersions(
                        try functionReference(p, request, maxLength: 256), marker: request.queryValue("Marker"),
                        maxItems: try request.intQuery("MaxItems", field: "maxItems")
                    )
                )
            },
            Route(.post, "2015-03-31/functions/{F}/aliases", "CreateAlias") { request, p in
                let input = try request.decode(AliasRequest.self)
                return try .json(try await controlPlane.createAlias(try functionReference(p, request), request: input), status: .created)
            },
            Route(.get, "2015-03-31/functions/{F}/aliases", "ListAliases") { request, p in
                try .json(
                    try await controlPlane.listAliases(
                        try functionReference(p, request), functionVersion: request.queryValue("FunctionVersion"),
                        marker: request.queryValue("Marker"), maxItems: try request.intQuery("MaxItems", field: "maxItems")
                    )
                )
            },
            Route(.get, "2015-03-31/functions/{F}/aliases/{N}", "GetAlias") { request, p in
                try .json(try await controlPlane.getAlias(try functionReference(p, request), name: p["{N}"] ?? ""))
            },
            Route(.put, "2015-03-31/functions/{F}/aliases/{N}", "UpdateAlias") { request, p in
                let input = try request.decode(AliasRequest.self)
                return try .json(try await controlPlane.updateAlias(try functionReference(p, request), name: p["{N}"] ?? "", request: input))
            },
            Route(.delete, "2015-03-31/functions/{F}/aliases/{N}", "DeleteAlias") { request, p in
                try await controlPlane.deleteAlias(try functionReference(p, request), name: p["{N}"] ?? "")
                return .empty()
            },
            Route(.post, "2015-03-31/functions/{F}/invocations", "Invoke") { request, p in
                try await invocations.invoke(try InvokeRequest(request, reference: try functionReference(p, request, maxLength: 256)))
            },
            Route(.put, "2017-10-31/functions/{F}/concurrency", "PutFunctionConcurrency") { request, p in
                let input = try request.decode(PutConcurrencyRequest.self)
                return try .json(try await controlPlane.putConcurrency(try functionReference(p, request), reserved: input.reservedConcurrentExecutions))
            },
            Route(.get, "2019-09-30/functions/{F}/concurrency", "GetFunctionConcurrency") { request, p in
                try .json(try await controlPlane.getConcurrency(try functionReference(p, request)))
            },
            Route(.delete, "2017-10-31/functions/{F}/concurrency", "DeleteFunctionConcurrency") { request, p in
                try await controlPlane.deleteConcurrency(try functionReference(p, request))
                return .empty()
            },
            Route(.post, "2017-03-31/tags/{R}", "TagResource") { request, p in
                let input = try request.decode(TagResourceRequest.self)
                try await controlPlane.tagResource(p["{R}"] ?? "", tags: input.tags)
                return .empty()
            },
            Route(.delete, "2017-03-31/tags/{R}", "UntagResource") { request, p in
                try await controlPlane.untagResource(p["{R}"] ?? "", keys: request.query["tagKeys"] ?? [])
                return .empty()
            },
            Route(.get, "2017-03-31/tags/{R}", "ListTags") { _, p in
                try .json(try await controlPlane.listTags(p["{R}"] ?? ""))
            },
            Route(.get, "2016-08-19/account-settings", "GetAccountSettings") { _, _ in
                try .json(try await controlPlane.accountSettings())
            },
        ]
    }

    /// The `{F}` segment parsed, combined with the `Qualifier` query parameter.
    func functionReference(_ captures: [String: String], _ request: APIRequest, maxLength: Int = 140) throws -> FunctionReference {
        try FunctionReference.parse(captures["{F}"] ?? "", maxLength: maxLength).qualified(by: request.queryValue("Qualifier"))
    }
}
