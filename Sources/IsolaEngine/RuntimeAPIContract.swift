import Foundation

/// The Lambda Runtime API 2018-06-01, written down once: paths, headers, limits and error bodies
/// (lambda-contract.md section 2; the RIE's `rapi` package for the texts).
enum RuntimeAPIContract {
    static let prefix = "/2018-06-01/runtime"
    static let nextPath = "\(prefix)/invocation/next"
    static let initErrorPath = "\(prefix)/init/error"

    enum Header {
        static let requestId = "Lambda-Runtime-Aws-Request-Id"
        static let deadline = "Lambda-Runtime-Deadline-Ms"
        static let functionArn = "Lambda-Runtime-Invoked-Function-Arn"
        static let traceId = "Lambda-Runtime-Trace-Id"
        static let clientContext = "Lambda-Runtime-Client-Context"
        static let cognitoIdentity = "Lambda-Runtime-Cognito-Identity"
        static let tenantId = "Lambda-Runtime-Aws-Tenant-Id"
        static let errorType = "Lambda-Runtime-Function-Error-Type"
    }

    /// A response or error body larger than this is refused (RIE: 6 MiB + 100 bytes).
    static let maxPayloadBytes = 6 * 1024 * 1024 + 100

    static let accepted = #"{"status":"OK"}"#

    static func errorBody(_ type: String, _ message: String) -> String {
        let escaped = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return #"{"errorMessage":""# + escaped + #"","errorType":""# + type + #""}"#
    }

    static let invalidRequestId = errorBody("InvalidRequestID", "Invalid request ID")
    static let invalidStateTransition = errorBody("InvalidStateTransition", "State transition is not allowed")
    static let payloadTooLarge = errorBody("RequestEntityTooLarge", "Exceeded maximum allowed payload size (\(maxPayloadBytes) bytes).")

    /// RIE rule: error types that are not `Runtime.X` or `Function.X` become `Runtime.Unknown`.
    static func validErrorType(_ type: String?) -> String? {
        guard let type, !type.isEmpty else { return nil }
        let parts = type.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[0] == "Runtime" || parts[0] == "Function", let first = parts[1].first, first.isUppercase,
            parts[1].allSatisfy({ $0.isASCII && $0.isLetter })
        else { return parts.first == "Function" ? "Function.Unknown" : "Runtime.Unknown" }
        return type
    }
}

/// A request the Runtime API received from a runtime, reduced to what the environment needs.
struct RuntimeAPIRequest: Sendable {
    /// The request headers the Runtime API reads; `headers` holds these only, keyed in lower case.
    static let readHeaders = ["content-type", "lambda-runtime-function-error-type"]

    var method: String
    var path: String
    var headers: [String: String]
    var body: [UInt8]
    /// True when the body was larger than `maxPayloadBytes` (the body is then empty).
    var bodyTooLarge: Bool
}

struct RuntimeAPIResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    static func json(_ status: Int, _ text: String) -> RuntimeAPIResponse {
        RuntimeAPIResponse(status: status, headers: [("Content-Type", "application/json")], body: Array(text.utf8))
    }
}
