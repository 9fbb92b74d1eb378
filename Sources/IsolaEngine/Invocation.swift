import Foundation
import LambdaAPI

/// One invocation as the engine runs it.
public struct InvocationInput: Sendable {
    public var requestId: String
    public var functionArn: String
    public var payload: Data
    public var tenantId: String?
    /// The JSON of `X-Amz-Client-Context`, already base64-decoded.
    public var clientContext: String?
    public var tailLogs: Bool

    public init(requestId: String, functionArn: String, payload: Data, tenantId: String?, clientContext: String?, tailLogs: Bool) {
        self.requestId = requestId
        self.functionArn = functionArn
        self.payload = payload
        self.tenantId = tenantId
        self.clientContext = clientContext
        self.tailLogs = tailLogs
    }
}

/// What came of an invocation.
public struct InvocationResult: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The function's response.
        case success
        /// The runtime posted an error, or the platform ended the invocation (timeout, crash, init failure):
        /// `X-Amz-Function-Error: Unhandled` with the error JSON as payload.
        case functionError(errorType: String)
    }

    public var kind: Kind
    public var payload: Data
    public var contentType: String
    public var executedVersion: String
    /// The invocation's log lines (START ... REPORT), for `X-Amz-Log-Type: Tail`.
    public var log: String
    public var coldStart: Bool
    public var environmentId: String
    /// The invocation's duration, and what Lambda bills for it (rounded up to the millisecond, with a cold start's
    /// init included).
    public var durationMs: Double = 0
    public var billedDurationMs: Int = 0
}

/// How an invocation ended inside an environment, before it is rendered for the caller.
enum InvocationOutcome: Sendable, Equatable {
    case response(Data, contentType: String)
    case error(Data, errorType: String)
    /// The platform's own error (timeout, runtime exit, ...): rendered as `{"errorType","errorMessage"}`.
    case platformError(errorType: String, message: String)
    /// The environment died before the runtime took the event: no user code saw it, so it can be retried.
    case undelivered

    var errorType: String? {
        switch self {
        case .response, .undelivered: nil
        case .error(_, let type), .platformError(let type, _): type
        }
    }
}
