import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaEngine
import IsolaStore
import LambdaAPI

/// Invoke with an execution engine: resolve, apply the tenancy rules, run, render as the Invoke API does.
struct EngineInvocationHandler: InvocationHandler {
    let controlPlane: ControlPlane
    let engine: Engine
    let asyncInvoker: AsyncInvoker
    let clock: @Sendable () -> Date
    /// `X-Amz-Client-Context`: "Up to 3,583 bytes of base64-encoded data".
    static let clientContextLimit = 3_583
    /// `X-Amz-Log-Result` carries the last 4 KB of the invocation's log.
    static let tailBytes = 4_096

    func invoke(_ request: InvokeRequest) async throws -> APIResponse {
        var reference = request.reference
        if reference.qualifier == nil { reference.qualifier = "$LATEST" }
        let resolved = try await controlPlane.resolve(reference)
        try ValidatingInvocationHandler.checkTenancy(resolved.function.tenancy, tenantId: request.tenantId)
        switch request.invocationType {
        case .dryRun: return .empty()
        case .event:
            // Durable before the 202: the queue commits it (synchronous=FULL) and the invoker takes it from there.
            let event = QueuedEvent(
                id: request.requestId, functionName: resolved.function.name, qualifier: reference.qualifier ?? "$LATEST",
                tenantId: request.tenantId, payload: request.payload, enqueuedAt: clock()
            )
            try await asyncInvoker.submit(event)
            return .empty(.accepted)
        case .requestResponse: break
        }
        let input = InvocationInput(
            requestId: request.requestId, functionArn: controlPlane.arns.function(resolved.function.name, qualifier: request.reference.qualifier),
            payload: request.payload, tenantId: request.tenantId, clientContext: try Self.decodeClientContext(request.clientContext),
            tailLogs: request.tailLogs
        )
        let result: InvocationResult
        do {
            result = try await engine.invoke(resolved, input: input)
        } catch let error as EngineError {
            throw LambdaError(.service, error.description)
        }
        var headers = HTTPFields()
        headers[.contentType] = result.contentType
        if let name = HTTPField.Name("X-Amz-Executed-Version") { headers[name] = result.executedVersion }
        if case .functionError = result.kind, let name = HTTPField.Name("X-Amz-Function-Error") { headers[name] = "Unhandled" }
        if request.tailLogs, let name = HTTPField.Name("X-Amz-Log-Result") {
            headers[name] = Data(result.log.utf8.suffix(Self.tailBytes)).base64EncodedString()
        }
        return APIResponse(status: .ok, headers: headers, body: result.payload)
    }

    static func decodeClientContext(_ header: String?) throws -> String? {
        guard let header, !header.isEmpty else { return nil }
        guard header.utf8.count <= clientContextLimit else {
            throw LambdaError(.invalidParameterValue, "Client context must be at most \(clientContextLimit) bytes of base64.")
        }
        guard let data = Data(base64Encoded: header), let text = String(data: data, encoding: .utf8),
            (try? JSONSerialization.jsonObject(with: data)) is [String: Any]
        else {
            throw LambdaError(.invalidParameterValue, "Client context must be a valid Base64-encoded JSON object.")
        }
        return text
    }
}
