import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaStore
import LambdaAPI

/// An Invoke request, validated as far as the API can without running anything.
public struct InvokeRequest: Sendable {
    public enum InvocationType: String, Sendable { case requestResponse = "RequestResponse", event = "Event", dryRun = "DryRun" }

    public var reference: FunctionReference
    public var invocationType: InvocationType
    public var tailLogs: Bool
    public var tenantId: String?
    public var clientContext: String?
    public var payload: Data
    /// The API request's id, which is also the invocation's request id (as on AWS).
    public var requestId: String

    init(_ request: APIRequest, reference: FunctionReference) throws {
        self.reference = reference
        requestId = request.requestId
        let type = request.header("X-Amz-Invocation-Type") ?? "RequestResponse"
        guard let invocationType = InvocationType(rawValue: type) else {
            throw LambdaError.validation([ConstraintViolation(value: type, field: "invocationType", constraint: "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")])
        }
        self.invocationType = invocationType
        let logType = request.header("X-Amz-Log-Type") ?? "None"
        guard logType == "None" || logType == "Tail" else {
            throw LambdaError.validation([ConstraintViolation(value: logType, field: "logType", constraint: "Member must satisfy enum value set: [None, Tail]")])
        }
        tailLogs = logType == "Tail"
        tenantId = request.header("X-Amz-Tenant-Id")
        if let tenantId { try TenantID.validate(tenantId) }
        clientContext = request.header("X-Amz-Client-Context")
        let limit = invocationType == .event ? Limits.asyncPayloadBytes : Limits.syncPayloadBytes
        if request.body.count > limit {
            throw LambdaError.requestTooLarge(limit: limit, operation: "InvokeFunction")
        }
        // No payload is the empty event, `{}`, as on AWS; anything else must be JSON.
        if request.body.isEmpty {
            payload = Data("{}".utf8)
        } else {
            guard JSONSyntax.isValid(request.body) else {
                throw LambdaError.malformedJSON("the payload is not valid JSON.")
            }
            payload = request.body
        }
    }
}

/// Runs invocations. The server validates the request and the tenancy rules, then hands over.
protocol InvocationHandler: Sendable {
    func invoke(_ request: InvokeRequest) async throws -> APIResponse
}

/// The handler of a server whose execution engine could not start here (no crun, not root, no runtime folder):
/// it checks everything an invocation must satisfy (the function exists, the tenancy rules, the payload) and
/// answers DryRun as AWS does (204), but it has nothing to run a function in, and says why with a conflict error,
/// as AWS does for a function that is not Active.
struct ValidatingInvocationHandler: InvocationHandler {
    let controlPlane: ControlPlane
    /// Why there is no engine, as the start-up log and /health say it.
    var reason = "no sandbox backend is available"

    func invoke(_ request: InvokeRequest) async throws -> APIResponse {
        var reference = request.reference
        if reference.qualifier == nil { reference.qualifier = "$LATEST" }
        let resolved = try await controlPlane.resolve(reference)
        try Self.checkTenancy(resolved.function.tenancy, tenantId: request.tenantId)
        if request.invocationType == .dryRun { return .empty() }
        throw LambdaError(
            .resourceConflict,
            "The function cannot run: this Isola server has no execution engine (\(reason)). Fix that and restart the server; until then --invocation-type DryRun validates invocations."
        )
    }

    static func checkTenancy(_ tenancy: TenancyConfig?, tenantId: String?) throws {
        if tenancy != nil, tenantId == nil { throw LambdaError.tenantIdRequired }
        if tenancy == nil, tenantId != nil { throw LambdaError.tenantIdNotAllowed }
    }
}
