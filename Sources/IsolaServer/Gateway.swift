import Foundation
import HTTPTypes
import Hummingbird
import IsolaControlPlane
import IsolaEngine
import IsolaGateway
import IsolaStore
import LambdaAPI
import Logging
import NIOCore
import Synchronization

/// The gateway's routes, kept in memory (a request reads them under a lock) and reloaded from the store after
/// every change made through `/isola/v1/routes`.
final class GatewayRoutes: Sendable {
    let store: any RouteStore
    private let table = Mutex(RouteTable([]))

    init(store: any RouteStore) async throws {
        self.store = store
        try await reload()
    }

    func reload() async throws {
        let records = try await store.routes()
        table.withLock { $0 = RouteTable(records) }
    }

    var current: RouteTable { table.withLock { $0 } }
}

/// The gateway port: API Gateway's Lambda proxy integration in front of the engine, with the tenant taken from
/// the request (zero configuration: `X-Tenant-ID`, else `?tenant-id=`).
struct GatewayResponder: HTTPResponder {
    typealias Context = GatewayContext

    let routes: GatewayRoutes
    let controlPlane: ControlPlane
    let engine: Engine?
    let logger: Logger
    /// API Gateway's payload limit.
    static let maxBodyBytes = 10 * 1_048_576

    static func message(_ status: HTTPResponse.Status, _ text: String, extra: [(String, String)] = []) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        for (name, value) in extra { if let field = HTTPField.Name(name) { headers[field] = value } }
        // `{"message": "..."}` byte for byte as API Gateway's REST APIs write it (with the space).
        let quoted = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])).map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\""
        let body = Data("{\"message\": \(quoted)}".utf8)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let requestId = RequestID.make()
        var tenant: String?
        let response = await handle(request, context: context, requestId: requestId, tenant: &tenant)
        let elapsed = ContinuousClock.now - started
        logger.info("gateway", metadata: [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "tenant": "\(tenant ?? "-")",
            "status": "\(response.status.code)", "ms": "\(DecimalText.twoDecimals(elapsed.inMilliseconds))", "request": "\(requestId)",
        ])
        var answered = response
        if let name = HTTPField.Name("x-amzn-RequestId") { answered.headers[name] = requestId }
        return answered
    }

    func handle(_ request: Request, context: Context, requestId: String, tenant: inout String?) async -> Response {
        var request = request
        let body: Data
        do {
            body = Data(try await request.collectBody(upTo: Self.maxBodyBytes).readableBytesView)
        } catch {
            return Self.message(.contentTooLarge, "Request Entity Too Large")
        }
        let path = request.uri.path
        guard let (entry, pathParameters) = routes.current.match(method: request.method.rawValue, path: path) else {
            return Self.message(.notFound, "Not Found")
        }
        // HTTP/1.1's Host arrives as the request's authority.
        let headers = request.headers.map { (name: $0.name.rawName, value: $0.value) } + (request.head.authority.map { [(name: "Host", value: $0)] } ?? [])
        let gatewayRequest = GatewayRequest(
            method: request.method.rawValue, path: path, rawQuery: request.uri.query ?? "", headers: headers, body: body,
            sourceIp: context.channel.remoteAddress?.ipAddress ?? "127.0.0.1", requestId: requestId, time: Date()
        )
        guard let engine else { return Self.message(.internalServerError, "Internal server error") }
        let resolved: ResolvedFunction
        do {
            resolved = try await controlPlane.resolve(FunctionReference(name: entry.record.functionName, qualifier: entry.record.qualifier ?? "$LATEST"))
        } catch {
            logger.warning("gateway route names a function that cannot be resolved", metadata: ["route": "\(entry.record.routeKey)", "error": "\(error)"])
            return Self.message(.internalServerError, "Internal server error")
        }
        if resolved.function.tenancy != nil {
            guard let named = TenantMapping.tenant(for: gatewayRequest, route: entry.record, pathParameters: pathParameters) else {
                return Self.message(.badRequest, LambdaError.tenantIdRequired.message)
            }
            do {
                try TenantID.validate(named)
            } catch {
                return Self.message(
                    .badRequest,
                    "Invalid tenant ID '\(named)': a tenant ID is 1 to 256 characters of letters, digits, spaces and . _ : / = + - @."
                )
            }
            tenant = named
        }
        let input = InvocationInput(
            requestId: requestId, functionArn: controlPlane.arns.function(resolved.function.name, qualifier: entry.record.qualifier),
            payload: ProxyEvent.make(gatewayRequest, route: entry.key, format: entry.record.payloadFormat, pathParameters: pathParameters),
            tenantId: tenant, clientContext: nil, tailLogs: false
        )
        let result: InvocationResult
        do {
            result = try await engine.invoke(resolved, input: input)
        } catch let error as LambdaError where error.code == .tooManyRequests {
            return Self.message(.tooManyRequests, "Too Many Requests")
        } catch {
            return Self.message(.internalServerError, "Internal server error")
        }
        switch result.kind {
        case .functionError(errorType: "Sandbox.Timedout"):
            return Self.message(.gatewayTimeout, "Endpoint request timed out")
        case .functionError:
            return Self.message(.badGateway, "Internal server error")
        case .success:
            guard let proxy = ProxyResponse.parse(result.payload, format: entry.record.payloadFormat) else {
                logger.warning("gateway: the function's result is not a proxy response", metadata: ["route": "\(entry.record.routeKey)"])
                return Self.message(.badGateway, "Internal server error")
            }
            var fields = HTTPFields()
            for (name, value) in proxy.headers {
                if let field = HTTPField.Name(name) { fields.append(HTTPField(name: field, value: value)) }
            }
            return Response(status: HTTPResponse.Status(code: proxy.status), headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: proxy.body)))
        }
    }
}

/// Hummingbird's basic context plus the connection, for the caller's address (`sourceIp`).
struct GatewayContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
