/// Request bodies of the control-plane operations. Every member is optional here so that a missing required
/// member becomes AWS's validation error rather than a decoding failure.

public struct TenancyConfigInput: Codable, Sendable, Equatable {
    public var tenantIsolationMode: String?

    enum CodingKeys: String, CodingKey { case tenantIsolationMode = "TenantIsolationMode" }
}

public struct FunctionCodeInput: Codable, Sendable {
    /// Base64 of the zip, as the aws CLI's `fileb://` and boto3's `ZipFile=bytes` send it.
    public var zipFile: String?
    public var s3Bucket: String?
    public var s3Key: String?
    public var s3ObjectVersion: String?
    public var imageUri: String?

    enum CodingKeys: String, CodingKey {
        case zipFile = "ZipFile"
        case s3Bucket = "S3Bucket"
        case s3Key = "S3Key"
        case s3ObjectVersion = "S3ObjectVersion"
        case imageUri = "ImageUri"
    }
}

public struct CreateFunctionRequest: Codable, Sendable {
    public var functionName: String?
    public var runtime: String?
    public var role: String?
    public var handler: String?
    public var code: FunctionCodeInput?
    public var description: String?
    public var timeout: Int?
    public var memorySize: Int?
    public var publish: Bool?
    public var packageType: String?
    public var environment: EnvironmentVariables?
    public var tracingConfig: TracingConfig?
    public var tags: [String: String]?
    public var architectures: [String]?
    public var ephemeralStorage: EphemeralStorage?
    public var loggingConfig: LoggingConfig?
    public var tenancyConfig: TenancyConfigInput?
    public var unsupported: UnsupportedMembers

    enum CodingKeys: String, CodingKey {
        case functionName = "FunctionName"
        case runtime = "Runtime"
        case role = "Role"
        case handler = "Handler"
        case code = "Code"
        case description = "Description"
        case timeout = "Timeout"
        case memorySize = "MemorySize"
        case publish = "Publish"
        case packageType = "PackageType"
        case environment = "Environment"
        case tracingConfig = "TracingConfig"
        case tags = "Tags"
        case architectures = "Architectures"
        case ephemeralStorage = "EphemeralStorage"
        case loggingConfig = "LoggingConfig"
        case tenancyConfig = "TenancyConfig"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        functionName = try c.decodeIfPresent(String.self, forKey: .functionName)
        runtime = try c.decodeIfPresent(String.self, forKey: .runtime)
        role = try c.decodeIfPresent(String.self, forKey: .role)
        handler = try c.decodeIfPresent(String.self, forKey: .handler)
        code = try c.decodeIfPresent(FunctionCodeInput.self, forKey: .code)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        timeout = try c.decodeIfPresent(Int.self, forKey: .timeout)
        memorySize = try c.decodeIfPresent(Int.self, forKey: .memorySize)
        publish = try c.decodeIfPresent(Bool.self, forKey: .publish)
        packageType = try c.decodeIfPresent(String.self, forKey: .packageType)
        environment = try c.decodeIfPresent(EnvironmentVariables.self, forKey: .environment)
        tracingConfig = try c.decodeIfPresent(TracingConfig.self, forKey: .tracingConfig)
        tags = try c.decodeIfPresent([String: String].self, forKey: .tags)
        architectures = try c.decodeIfPresent([String].self, forKey: .architectures)
        ephemeralStorage = try c.decodeIfPresent(EphemeralStorage.self, forKey: .ephemeralStorage)
        loggingConfig = try c.decodeIfPresent(LoggingConfig.self, forKey: .loggingConfig)
        tenancyConfig = try c.decodeIfPresent(TenancyConfigInput.self, forKey: .tenancyConfig)
        unsupported = try UnsupportedMembers(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(functionName, forKey: .functionName)
        try c.encodeIfPresent(runtime, forKey: .runtime)
        try c.encodeIfPresent(role, forKey: .role)
        try c.encodeIfPresent(handler, forKey: .handler)
        try c.encodeIfPresent(code, forKey: .code)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encodeIfPresent(timeout, forKey: .timeout)
        try c.encodeIfPresent(memorySize, forKey: .memorySize)
        try c.encodeIfPresent(publish, forKey: .publish)
        try c.encodeIfPresent(packageType, forKey: .packageType)
        try c.encodeIfPresent(environment, forKey: .environment)
        try c.encodeIfPresent(tracingConfig, forKey: .tracingConfig)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(architectures, forKey: .architectures)
        try c.encodeIfPresent(ephemeralStorage, forKey: .ephemeralStorage)
        try c.encodeIfPresent(loggingConfig, forKey: .loggingConfig)
        try c.encodeIfPresent(tenancyConfig, forKey: .tenancyConfig)
    }
}

public struct UpdateFunctionConfigurationRequest: Decodable, Sendable {
    public var role: String?
    public var handler: String?
    public var description: String?
    public var timeout: Int?
    public var memorySize: Int?
    public var environment: EnvironmentVariables?
    public var runtime: String?
    public var tracingConfig: TracingConfig?
    public var revisionId: String?
    public var ephemeralStorage: EphemeralStorage?
    public var loggingConfig: LoggingConfig?
    /// Not in the model: present only so that an attempt to change tenancy is refused, never ignored.
    public var tenancyConfig: JSONValue?
    public var unsupported: UnsupportedMembers

    enum CodingKeys: String, CodingKey {
        case role = "Role"
        case handler = "Handler"
        case description = "Description"
        case timeout = "Timeout"
        case memorySize = "MemorySize"
        case environment = "Environment"
        case runtime = "Runtime"
        case tracingConfig = "TracingConfig"
        case revisionId = "RevisionId"
        case ephemeralStorage = "EphemeralStorage"
        case loggingConfig = "LoggingConfig"
        case tenancyConfig = "TenancyConfig"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decodeIfPresent(String.self, forKey: .role)
        handler = try c.decodeIfPresent(String.self, forKey: .handler)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        timeout = try c.decodeIfPresent(Int.self, forKey: .timeout)
        memorySize = try c.decodeIfPresent(Int.self, forKey: .memorySize)
        environment = try c.decodeIfPresent(EnvironmentVariables.self, forKey: .environment)
        runtime = try c.decodeIfPresent(String.self, forKey: .runtime)
        tracingConfig = try c.decodeIfPresent(TracingConfig.self, forKey: .tracingConfig)
        revisionId = try c.decodeIfPresent(String.self, forKey: .revisionId)
        ephemeralStorage = try c.decodeIfPresent(EphemeralStorage.self, forKey: .ephemeralStorage)
        loggingConfig = try c.decodeIfPresent(LoggingConfig.self, forKey: .loggingConfig)
        tenancyConfig = try c.decodeIfPresent(JSONValue.self, forKey: .tenancyConfig)
        unsupported = try UnsupportedMembers(from: decoder)
    }
}

public struct UpdateFunctionCodeRequest: Decodable, Sendable {
    public var zipFile: String?
    public var s3Bucket: String?
    public var s3Key: String?
    public var imageUri: String?
    public var publish: Bool?
    public var dryRun: Bool?
    public var revisionId: String?
    public var architectures: [String]?

    enum CodingKeys: String, CodingKey {
        case zipFile = "ZipFile"
        case s3Bucket = "S3Bucket"
        case s3Key = "S3Key"
        case imageUri = "ImageUri"
        case publish = "Publish"
        case dryRun = "DryRun"
        case revisionId = "RevisionId"
        case architectures = "Architectures"
    }
}

public struct PublishVersionRequest: Decodable, Sendable {
    public var codeSha256: String?
    public var description: String?
    public var revisionId: String?

    enum CodingKeys: String, CodingKey {
        case codeSha256 = "CodeSha256"
        case description = "Description"
        case revisionId = "RevisionId"
    }
}

public struct AliasRequest: Decodable, Sendable {
    public var name: String?
    public var functionVersion: String?
    public var description: String?
    public var routingConfig: AliasRoutingConfiguration?
    public var revisionId: String?

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case functionVersion = "FunctionVersion"
        case description = "Description"
        case routingConfig = "RoutingConfig"
        case revisionId = "RevisionId"
    }
}

public struct PutConcurrencyRequest: Decodable, Sendable {
    public var reservedConcurrentExecutions: Int?

    enum CodingKeys: String, CodingKey { case reservedConcurrentExecutions = "ReservedConcurrentExecutions" }
}

public struct TagResourceRequest: Decodable, Sendable {
    public var tags: [String: String]?

    enum CodingKeys: String, CodingKey { case tags = "Tags" }
}

/// Members of the model that Isola does not implement. They are decoded only to refuse them with a clear
/// error: silently ignoring, say, a VPC or a layer would leave the user with a function that is not what they
/// asked for.
public struct UnsupportedMembers: Decodable, Sendable {
    public var present: [String]

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    static let names = [
        "VpcConfig", "DeadLetterConfig", "KMSKeyArn", "Layers", "FileSystemConfigs", "ImageConfig",
        "CodeSigningConfigArn", "SnapStart", "CapacityProviderConfig", "PublishTo", "DurableConfig",
    ]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        var present: [String] = []
        for name in Self.names {
            let key = AnyKey(stringValue: name)
            guard c.contains(key), let value = try c.decodeIfPresent(JSONValue.self, forKey: key) else { continue }
            if !value.meansNothing(for: name) { present.append(name) }
        }
        self.present = present
    }
}
