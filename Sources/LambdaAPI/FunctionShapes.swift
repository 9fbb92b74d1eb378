/// Wire shapes of the Lambda control plane, as the botocore model (2015-03-31) names them.
/// Swift names are lowerCamelCase; the JSON keys are AWS's, spelled out in each `CodingKeys`.

public struct TenancyConfig: Codable, Sendable, Equatable {
    /// `PER_TENANT` is the only value the model defines; anything else is rejected at validation.
    public var tenantIsolationMode: String

    public static let perTenant = TenancyConfig(tenantIsolationMode: "PER_TENANT")

    public init(tenantIsolationMode: String) { self.tenantIsolationMode = tenantIsolationMode }

    enum CodingKeys: String, CodingKey { case tenantIsolationMode = "TenantIsolationMode" }
}

public struct EnvironmentVariables: Codable, Sendable, Equatable {
    public var variables: [String: String]?

    public init(variables: [String: String]? = nil) { self.variables = variables }

    enum CodingKeys: String, CodingKey { case variables = "Variables" }
}

public struct LoggingConfig: Codable, Sendable, Equatable {
    public var logFormat: String?
    public var applicationLogLevel: String?
    public var systemLogLevel: String?
    public var logGroup: String?

    public init(logFormat: String? = nil, applicationLogLevel: String? = nil, systemLogLevel: String? = nil, logGroup: String? = nil) {
        self.logFormat = logFormat
        self.applicationLogLevel = applicationLogLevel
        self.systemLogLevel = systemLogLevel
        self.logGroup = logGroup
    }

    enum CodingKeys: String, CodingKey {
        case logFormat = "LogFormat"
        case applicationLogLevel = "ApplicationLogLevel"
        case systemLogLevel = "SystemLogLevel"
        case logGroup = "LogGroup"
    }
}

public struct EphemeralStorage: Codable, Sendable, Equatable {
    public var size: Int

    public init(size: Int) { self.size = size }

    enum CodingKeys: String, CodingKey { case size = "Size" }
}

public struct TracingConfig: Codable, Sendable, Equatable {
    public var mode: String?

    public init(mode: String?) { self.mode = mode }

    enum CodingKeys: String, CodingKey { case mode = "Mode" }
}

public struct SnapStartResponse: Codable, Sendable, Equatable {
    public var applyOn: String
    public var optimizationStatus: String

    public init(applyOn: String = "None", optimizationStatus: String = "Off") {
        self.applyOn = applyOn
        self.optimizationStatus = optimizationStatus
    }

    enum CodingKeys: String, CodingKey {
        case applyOn = "ApplyOn"
        case optimizationStatus = "OptimizationStatus"
    }
}

public struct RuntimeVersionConfig: Codable, Sendable, Equatable {
    public var runtimeVersionArn: String

    public init(runtimeVersionArn: String) { self.runtimeVersionArn = runtimeVersionArn }

    enum CodingKeys: String, CodingKey { case runtimeVersionArn = "RuntimeVersionArn" }
}

/// `FunctionConfiguration`: what Create/Get/List/Update/PublishVersion return for one version of a function.
public struct FunctionConfiguration: Codable, Sendable, Equatable {
    public var functionName: String
    public var functionArn: String
    public var runtime: String
    public var role: String
    public var handler: String
    public var codeSize: Int
    public var description: String
    public var timeout: Int
    public var memorySize: Int
    public var lastModified: String
    public var codeSha256: String
    public var version: String
    public var environment: EnvironmentVariables?
    public var tracingConfig: TracingConfig
    public var revisionId: String
    public var state: String
    public var lastUpdateStatus: String
    public var packageType: String
    public var architectures: [String]
    public var ephemeralStorage: EphemeralStorage
    public var snapStart: SnapStartResponse
    public var runtimeVersionConfig: RuntimeVersionConfig
    public var loggingConfig: LoggingConfig
    public var tenancyConfig: TenancyConfig?

    public init(
        functionName: String, functionArn: String, runtime: String, role: String, handler: String,
        codeSize: Int, description: String, timeout: Int, memorySize: Int, lastModified: String,
        codeSha256: String, version: String, environment: EnvironmentVariables?, tracingConfig: TracingConfig,
        revisionId: String, state: String = "Active", lastUpdateStatus: String = "Successful",
        packageType: String = "Zip", architectures: [String], ephemeralStorage: EphemeralStorage,
        snapStart: SnapStartResponse = SnapStartResponse(), runtimeVersionConfig: RuntimeVersionConfig,
        loggingConfig: LoggingConfig, tenancyConfig: TenancyConfig?
    ) {
        self.functionName = functionName
        self.functionArn = functionArn
        self.runtime = runtime
        self.role = role
        self.handler = handler
        self.codeSize = codeSize
        self.description = description
        self.timeout = timeout
        self.memorySize = memorySize
        self.lastModified = lastModified
        self.codeSha256 = codeSha256
        self.version = version
        self.environment = environment
        self.tracingConfig = tracingConfig
        self.revisionId = revisionId
        self.state = state
        self.lastUpdateStatus = lastUpdateStatus
        self.packageType = packageType
        self.architectures = architectures
        self.ephemeralStorage = ephemeralStorage
        self.snapStart = snapStart
        self.runtimeVersionConfig = runtimeVersionConfig
        self.loggingConfig = loggingConfig
        self.tenancyConfig = tenancyConfig
    }

    enum CodingKeys: String, CodingKey {
        case functionName = "FunctionName"
        case functionArn = "FunctionArn"
        case runtime = "Runtime"
        case role = "Role"
        case handler = "Handler"
        case codeSize = "CodeSize"
        case description = "Description"
        case timeout = "Timeout"
        case memorySize = "MemorySize"
        case lastModified = "LastModified"
        case codeSha256 = "CodeSha256"
        case version = "Version"
        case environment = "Environment"
        case tracingConfig = "TracingConfig"
        case revisionId = "RevisionId"
        case state = "State"
        case lastUpdateStatus = "LastUpdateStatus"
        case packageType = "PackageType"
        case architectures = "Architectures"
        case ephemeralStorage = "EphemeralStorage"
        case snapStart = "SnapStart"
        case runtimeVersionConfig = "RuntimeVersionConfig"
        case loggingConfig = "LoggingConfig"
        case tenancyConfig = "TenancyConfig"
    }

    /// True when two configurations differ only in what every write changes (revision, timestamp, identity
    /// of the version). PublishVersion uses it: publishing an unchanged `$LATEST` returns the last version.
    public func isPublishEquivalent(to other: FunctionConfiguration) -> Bool {
        var a = self
        var b = other
        for c in [\FunctionConfiguration.revisionId, \.lastModified, \.version, \.functionArn, \.description] {
            a[keyPath: c] = ""
            b[keyPath: c] = ""
        }
        return a == b
    }
}

public struct FunctionCodeLocation: Codable, Sendable, Equatable {
    public var repositoryType: String
    public var location: String

    public init(repositoryType: String = "S3", location: String) {
        self.repositoryType = repositoryType
        self.location = location
    }

    enum CodingKeys: String, CodingKey {
        case repositoryType = "RepositoryType"
        case location = "Location"
    }
}

public struct Concurrency: Codable, Sendable, Equatable {
    public var reservedConcurrentExecutions: Int?

    public init(reservedConcurrentExecutions: Int?) { self.reservedConcurrentExecutions = reservedConcurrentExecutions }

    enum CodingKeys: String, CodingKey { case reservedConcurrentExecutions = "ReservedConcurrentExecutions" }
}

public struct GetFunctionResponse: Codable, Sendable, Equatable {
    public var configuration: FunctionConfiguration
    public var code: FunctionCodeLocation
    public var tags: [String: String]?
    public var concurrency: Concurrency?

    public init(configuration: FunctionConfiguration, code: FunctionCodeLocation, tags: [String: String]?, concurrency: Concurrency?) {
        self.configuration = configuration
        self.code = code
        self.tags = tags
        self.concurrency = concurrency
    }

    enum CodingKeys: String, CodingKey {
        case configuration = "Configuration"
        case code = "Code"
        case tags = "Tags"
        case concurrency = "Concurrency"
    }
}

public struct ListFunctionsResponse: Codable, Sendable, Equatable {
    public var functions: [FunctionConfiguration]
    public var nextMarker: String?

    public init(functions: [FunctionConfiguration], nextMarker: String?) {
        self.functions = functions
        self.nextMarker = nextMarker
    }

    enum CodingKeys: String, CodingKey {
        case functions = "Functions"
        case nextMarker = "NextMarker"
    }
}

public struct ListVersionsResponse: Codable, Sendable, Equatable {
    public var versions: [FunctionConfiguration]
    public var nextMarker: String?

    public init(versions: [FunctionConfiguration], nextMarker: String?) {
        self.versions = versions
        self.nextMarker = nextMarker
    }

    enum CodingKeys: String, CodingKey {
        case versions = "Versions"
        case nextMarker = "NextMarker"
    }
}
