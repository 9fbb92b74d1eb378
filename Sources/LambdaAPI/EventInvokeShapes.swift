import Foundation

/// `PutFunctionEventInvokeConfig` / `UpdateFunctionEventInvokeConfig` body.
public struct PutEventInvokeConfigRequest: Decodable, Sendable {
    public var maximumRetryAttempts: Int?
    public var maximumEventAgeInSeconds: Int?
    public var destinationConfig: JSONValue?

    public init(maximumRetryAttempts: Int? = nil, maximumEventAgeInSeconds: Int? = nil, destinationConfig: JSONValue? = nil) {
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeInSeconds = maximumEventAgeInSeconds
        self.destinationConfig = destinationConfig
    }

    enum CodingKeys: String, CodingKey {
        case maximumRetryAttempts = "MaximumRetryAttempts"
        case maximumEventAgeInSeconds = "MaximumEventAgeInSeconds"
        case destinationConfig = "DestinationConfig"
    }
}

/// `FunctionEventInvokeConfig`, as Lambda returns it.
public struct FunctionEventInvokeConfig: Codable, Sendable, Equatable {
    /// Seconds since the epoch (a JSON number, as Lambda sends it).
    public var lastModified: Double
    /// The qualified ARN (`...:function:name:$LATEST`, `:1`, `:alias`).
    public var functionArn: String
    public var maximumRetryAttempts: Int
    public var maximumEventAgeInSeconds: Int
    public var destinationConfig: DestinationConfig

    public struct DestinationConfig: Codable, Sendable, Equatable {
        public var onSuccess: [String: String] = [:]
        public var onFailure: [String: String] = [:]

        public init() {}

        enum CodingKeys: String, CodingKey {
            case onSuccess = "OnSuccess"
            case onFailure = "OnFailure"
        }
    }

    public init(lastModified: Double, functionArn: String, maximumRetryAttempts: Int, maximumEventAgeInSeconds: Int) {
        self.lastModified = lastModified
        self.functionArn = functionArn
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeInSeconds = maximumEventAgeInSeconds
        self.destinationConfig = DestinationConfig()
    }

    enum CodingKeys: String, CodingKey {
        case lastModified = "LastModified"
        case functionArn = "FunctionArn"
        case maximumRetryAttempts = "MaximumRetryAttempts"
        case maximumEventAgeInSeconds = "MaximumEventAgeInSeconds"
        case destinationConfig = "DestinationConfig"
    }
}

public struct ListEventInvokeConfigsResponse: Codable, Sendable, Equatable {
    public var functionEventInvokeConfigs: [FunctionEventInvokeConfig]
    public var nextMarker: String?

    public init(functionEventInvokeConfigs: [FunctionEventInvokeConfig], nextMarker: String?) {
        self.functionEventInvokeConfigs = functionEventInvokeConfigs
        self.nextMarker = nextMarker
    }

    enum CodingKeys: String, CodingKey {
        case functionEventInvokeConfigs = "FunctionEventInvokeConfigs"
        case nextMarker = "NextMarker"
    }
}

extension Validation {
    /// MaximumRetryAttempts 0...2 and MaximumEventAgeInSeconds 60...21600, in AWS's constraint form; destinations
    /// are refused with the reason (Isola has no SQS, SNS or EventBridge to deliver to).
    public static func checkEventInvokeConfig(_ request: PutEventInvokeConfigRequest) throws(LambdaError) {
        var violations: [ConstraintViolation] = []
        if let retries = request.maximumRetryAttempts {
            if retries < Limits.asyncRetryAttemptsRange.lowerBound {
                violations.append(ConstraintViolation(value: "\(retries)", field: "maximumRetryAttempts", constraint: "Member must have value greater than or equal to \(Limits.asyncRetryAttemptsRange.lowerBound)"))
            } else if retries > Limits.asyncRetryAttemptsRange.upperBound {
                violations.append(ConstraintViolation(value: "\(retries)", field: "maximumRetryAttempts", constraint: "Member must have value less than or equal to \(Limits.asyncRetryAttemptsRange.upperBound)"))
            }
        }
        if let age = request.maximumEventAgeInSeconds {
            if age < Limits.asyncEventAgeRange.lowerBound {
                violations.append(ConstraintViolation(value: "\(age)", field: "maximumEventAgeInSeconds", constraint: "Member must have value greater than or equal to \(Limits.asyncEventAgeRange.lowerBound)"))
            } else if age > Limits.asyncEventAgeRange.upperBound {
                violations.append(ConstraintViolation(value: "\(age)", field: "maximumEventAgeInSeconds", constraint: "Member must have value less than or equal to \(Limits.asyncEventAgeRange.upperBound)"))
            }
        }
        if !violations.isEmpty { throw LambdaError.validation(violations) }
        // A destination is a member of OnSuccess / OnFailure with a `Destination` ARN; empty members are fine.
        guard case .object(let members)? = request.destinationConfig else { return }
        for case .object(let target) in members.values where target["Destination"] != nil {
            throw LambdaError(
                .invalidParameterValue,
                "Isola does not deliver to destinations (SQS, SNS, EventBridge or another function). Leave DestinationConfig empty; events that run out of attempts or age are recorded instead: GET /isola/v1/failed-events, or `isola failed-events`."
            )
        }
    }
}
