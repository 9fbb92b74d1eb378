import Foundation
import HTTPTypes
import Hummingbird
import IsolaEngine
import IsolaLogs
import LambdaAPI
import Logging
import NIOCore

/// The API port's single responder: request id, body limit, SigV4, dispatch to a route, error rendering.
/// Nothing thrown by a route escapes as a crash or an empty 500: unknown failures become ServiceException
/// with the request id, and are logged.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let routes: [Route]
    let authenticator: Authenticator
    let codeURLs: CodeURLSigner
    let codeStore: @Sendable (String) -> URL
    let health: @Sendable () async -> [String: String]
    /// The CloudWatch Logs API on the same endpoint (JSON 1.1, by `X-Amz-Target`).
    let logs: LogsService?
    /// `GET /metrics`: Prometheus text.
    let metrics: @Sendable () async -> [UInt8]
    let clock: @Sendable () -> Date
    let logger: Logger

    /// Hummingbird's entry (the in-process test client drives it); the API port itself is served by APIHTTPService.
    func respond(to request: Request, context: Context) async throws -> Response {
        var body = Data()
        var tooLarge = false
        var request = request
        do {
            body = Data(try await request.collectBody(upTo: Self.bodyLimit).readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            tooLarge = true
        } catch is NIOTooManyBytesError {
            tooLarge = true
        }
        let answer = await respond(
            method: request.method, target: request.head.path ?? "/", authority: request.head.authority, headers: request.headers,
            body: tooLarge ? nil : body
        )
        return Response(status: answer.status, headers: answer.headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// The largest request body the API takes (CreateFunction's limit); beyond it, AWS's RequestEntityTooLargeException.
    static let bodyLimit = Limits.createFunctionRequestBytes

    /// One request, whatever carried it: `body` nil means it exceeded `bodyLimit` (and was discarded). The answer
    /// always has a content type, a length and `x-amzn-RequestId`.
    func respond(method: HTTPRequest.Method, target: String, authority: String?, headers: HTTPFields, body: Data?) async -> APIResponse {
        let requestId = RequestID.make()
        let started = ContinuousClock.now
        var response: APIResponse
        var operation = "-"
        do {
            guard let body else { throw LambdaError.requestTooLarge(limit: Self.bodyLimit, operation: "CreateFunction") }
            let api = APIRequest(method: method, target: target, authority: authority, headers: headers, body: body, requestId: requestId)
            (operation, response) = try await dispatch(api)
        } catch let error as LambdaError {
            response = .error(error)
        } catch {
            logger.error("internal error", metadata: ["request": "\(requestId)", "operation": "\(operation)", "error": "\(error)"])
            response = .error(LambdaError(.service, "Isola hit an internal error (request \(requestId)); the server log has the details."))
        }
        response.headers[.contentType] = response.headers[.contentType] ?? "application/json"
        if let name = Self.requestIdField { response.headers[name] = requestId }
        response.headers[.contentLength] = String(response.body.count)
        if logger.logLevel <= .debug {
            logger.debug("request", metadata: [
                "request": "\(requestId)", "operation": "\(operation)", "status": "\(response.status.code)",
                "ms": "\(DecimalText.twoDecimals((ContinuousClock.now - started).inMilliseconds))",
            ])
        }
        return response
    }

    static let requestIdField = HTTPField.Name("x-amzn-RequestId")

    func dispatch(_ request: APIRequest) async throws -> (String, APIResponse) {
        // Unauthenticated by design: liveness, and code downloads that carry their own signature.
        if request.method == .get, request.segments == ["health"] {
            return ("Health", try .json(await health()))
        }
        if request.method == .get, request.segments == ["metrics"] {
            // Unauthenticated, as scrapers expect: counts by function and outcome, no tenants, no payloads.
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return ("Metrics", APIResponse(status: .ok, headers: headers, body: Data(await metrics())))
        }
        if request.method == .get, request.segments.count == 4, Array(request.segments.prefix(3)) == ["isola", "v1", "code"] {
            return ("DownloadCode", try downloadCode(request, digest: request.segments[3]))
        }
        if request.method == .post, request.segments.isEmpty, let target = request.header("X-Amz-Target"), target.hasPrefix(LogsService.targetPrefix),
            let logs
        {
            _ = try authenticator.authenticate(request, services: ["logs"])
            let operation = String(target.dropFirst(LogsService.targetPrefix.count))
            return ("Logs." + operation, await Self.logsResponse { try await logs.handle(operation: operation, body: request.body) })
        }
        var pathMatched = false
        for route in routes {
            guard let captures = route.match(request.segments) else { continue }
            pathMatched = true
            guard route.method == request.method else { continue }
            _ = try authenticator.authenticate(request)
            return (route.operation, try await route.handler(request, captures))
        }
        _ = try authenticator.authenticate(request)
        let what = pathMatched ? "\(request.method.rawValue) is not an operation on \(request.rawPath)" : "No Lambda API operation is served at \(request.rawPath)"
        throw LambdaError(.unknownOperation, "\(what). Isola serves the Lambda API paths of botocore's 2015-03-31 model.")
    }

    /// A Logs API answer in JSON 1.1: the result, or `{"__type", "message"}` with the error type also in
    /// `x-amzn-ErrorType` (where botocore's JSON protocol reads it).
    static func logsResponse(_ body: () async throws -> Data) async -> APIResponse {
        var headers = HTTPFields()
        headers[.contentType] = "application/x-amz-json-1.1"
        let error: LogsError
        do {
            return APIResponse(status: .ok, headers: headers, body: try await body())
        } catch let failure as LogsError {
            error = failure
        } catch {
            return .error(LambdaError(.service, "The log store failed: \(error)"))
        }
        if let name = HTTPField.Name("x-amzn-ErrorType") { headers[name] = error.type }
        let payload = (try? JSONSerialization.data(withJSONObject: ["__type": error.type, "message": error.message], options: [.sortedKeys])) ?? Data()
        return APIResponse(status: HTTPResponse.Status(code: error.status), headers: headers, body: payload)
    }

    func downloadCode(_ request: APIRequest, digest: String) throws -> APIResponse {
        guard digest.count == 64, digest.allSatisfy(\.isHexDigit),
            codeURLs.isValid(digest: digest, expires: request.queryValue("expires"), signature: request.queryValue("signature"), now: clock())
        else {
            throw LambdaError(.invalidSignature, "The code download URL is invalid or has expired. Call GetFunction again for a fresh Code.Location.")
        }
        guard let data = try? Data(contentsOf: codeStore(digest)) else {
            throw LambdaError(.resourceNotFound, "The deployment package no longer exists. Call GetFunction again for the current code.")
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/zip"
        return APIResponse(status: .ok, headers: headers, body: data)
    }
}
