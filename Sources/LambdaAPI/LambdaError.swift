/// The one error vocabulary of the Lambda API.
///
/// Every error the server can answer with is a `LambdaError`: it knows its HTTP status, the `x-amzn-ErrorType`
/// header value botocore turns into `Error.Code`, and the body member name AWS uses for the message (`message` for
/// most shapes, `Message` for ResourceNotFoundException and ServiceException, as the botocore model declares).
/// Messages follow AWS's texts where the contract lists them, and otherwise say what to do next.
public struct LambdaError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case invalidParameterValue = "InvalidParameterValueException"
        case invalidRequestContent = "InvalidRequestContentException"
        case validation = "ValidationException"
        case resourceNotFound = "ResourceNotFoundException"
        case resourceConflict = "ResourceConflictException"
        case preconditionFailed = "PreconditionFailedException"
        case tooManyRequests = "TooManyRequestsException"
        case requestTooLarge = "RequestTooLargeException"
        case requestEntityTooLarge = "RequestEntityTooLargeException"
        case unsupportedMediaType = "UnsupportedMediaTypeException"
        case resourceNotReady = "ResourceNotReadyException"
        case service = "ServiceException"
        case unknownOperation = "UnknownOperationException"
        case missingAuthenticationToken = "MissingAuthenticationTokenException"
        case unrecognizedClient = "UnrecognizedClientException"
        case invalidSignature = "InvalidSignatureException"
        case incompleteSignature = "IncompleteSignatureException"

        public var httpStatus: Int {
            switch self {
            case .invalidParameterValue, .invalidRequestContent, .validation: 400
            case .resourceNotFound, .unknownOperation: 404
            case .resourceConflict: 409
            case .preconditionFailed: 412
            case .tooManyRequests: 429
            case .requestTooLarge, .requestEntityTooLarge: 413
            case .unsupportedMediaType: 415
            case .resourceNotReady: 502
            case .service: 500
            case .missingAuthenticationToken, .unrecognizedClient, .invalidSignature, .incompleteSignature: 403
            }
        }

        /// The JSON member that carries the message, as the botocore model spells it for this shape.
        public var messageKey: String {
            switch self {
            case .resourceNotFound, .service, .requestEntityTooLarge: "Message"
            default: "message"
            }
        }

        /// `User` for client faults, `Service` for ours: the `Type` member every Lambda error body carries.
        public var faultType: String { httpStatus >= 500 ? "Service" : "User" }
    }

    public var code: Code
    public var message: String
    /// The `Reason` member of TooManyRequestsException (e.g. `ReservedFunctionConcurrentInvocationLimitExceeded`).
    public var reason: String?

    public init(_ code: Code, _ message: String, reason: String? = nil) {
        self.code = code
        self.message = message
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// The error body in AWS's REST-JSON shape: `{"Type": "User", "message": "..."}`.
    public var body: [String: String] {
        var body = ["Type": code.faultType, code.messageKey: message]
        if let reason { body["Reason"] = reason }
        return body
    }
}

// MARK: - AWS's texts, in one table

extension LambdaError {
    public static func functionNotFound(_ arn: String) -> LambdaError {
        LambdaError(.resourceNotFound, "Function not found: \(arn)")
    }

    public static func functionAlreadyExists(_ name: String) -> LambdaError {
        LambdaError(.resourceConflict, "Function already exist: \(name)")
    }

    public static func aliasNotFound(_ arn: String) -> LambdaError {
        LambdaError(.resourceNotFound, "Alias not found: \(arn)")
    }

    public static func aliasAlreadyExists(_ arn: String) -> LambdaError {
        LambdaError(.resourceConflict, "Alias already exists: \(arn)")
    }

    public static let revisionMismatch = LambdaError(
        .preconditionFailed,
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
    )

    public static let qualifierMismatch = LambdaError(
        .invalidParameterValue,
        "The derived qualifier from the function name does not match the specified qualifier."
    )

    public static let cannotUnzip = LambdaError(
        .invalidParameterValue,
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )

    public static func zippedTooLarge(limit: Int) -> LambdaError {
        LambdaError(.invalidParameterValue, "Zipped size must be smaller than \(limit) bytes")
    }

    public static func unzippedTooLarge(limit: Int) -> LambdaError {
        LambdaError(.invalidParameterValue, "Unzipped size must be smaller than \(limit) bytes")
    }

    public static func requestTooLarge(limit: Int, operation: String) -> LambdaError {
        LambdaError(.requestEntityTooLarge, "Request must be smaller than \(limit) bytes for the \(operation) operation")
    }

    /// Tenant isolation: an isolated function invoked without a tenant ID (AWS's text, verbatim).
    public static let tenantIdRequired = LambdaError(
        .invalidParameterValue,
        "The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your request and try again."
    )

    /// Tenant isolation: an ordinary function invoked with a tenant ID (AWS's emulator text; see the contract, 1.4).
    public static let tenantIdNotAllowed = LambdaError(
        .invalidParameterValue,
        "The invoked function is not enabled with tenancy configuration. Remove the tenant ID from your request and try again."
    )

    public static func malformedJSON(_ detail: String) -> LambdaError {
        LambdaError(.invalidRequestContent, "Could not parse request body into json: \(detail)")
    }

    /// AWS's constraint-violation text: `1 validation error detected: Value 'x' at 'field' failed to satisfy ...`.
    public static func validation(_ violations: [ConstraintViolation]) -> LambdaError {
        let count = violations.count
        let prefix = "\(count) validation error\(count == 1 ? "" : "s") detected: "
        return LambdaError(.validation, prefix + violations.map(\.text).joined(separator: "; "))
    }
}

/// One failed constraint, rendered the way AWS's request validation renders it.
public struct ConstraintViolation: Sendable, Equatable {
    public var value: String
    public var field: String
    public var constraint: String

    public init(value: String, field: String, constraint: String) {
        self.value = value
        self.field = field
        self.constraint = constraint
    }

    public var text: String {
        "Value '\(value)' at '\(field)' failed to satisfy constraint: \(constraint)"
    }
}
