import Foundation

/// Validation of control-plane input, pure: each function either returns the validated value or throws the
/// error AWS would answer with. Constraint violations (range, length, pattern, enum) are collected and
/// reported together as a ValidationException; semantic problems are InvalidParameterValueExceptions.
public struct ValidatedCreate: Sendable {
    public var name: String
    public var settings: FunctionSettings
    public var tenancy: TenancyConfig?
    public var tags: [String: String]
    public var zip: Data
    public var publish: Bool
}

/// The settings of `$LATEST` that UpdateFunctionConfiguration may change (tenancy is not among them).
public struct FunctionSettings: Sendable, Equatable {
    public var runtime: String
    public var role: String
    public var handler: String
    public var description: String = ""
    public var timeout: Int = Limits.defaultTimeoutSeconds
    public var memorySize: Int = Limits.defaultMemoryMB
    public var environment: [String: String]? = nil
    public var tracingMode: String = "PassThrough"
    public var architecture: String = HostArchitecture.lambdaName
    public var ephemeralStorageMB: Int = Limits.defaultEphemeralStorageMB
    public var logFormat: String = "Text"
    public var applicationLogLevel: String? = nil
    public var systemLogLevel: String? = nil
    public var logGroup: String? = nil

    public init(runtime: String, role: String, handler: String) {
        self.runtime = runtime
        self.role = role
        self.handler = handler
    }
}

public enum HostArchitecture {
    #if arch(arm64)
    public static let lambdaName = "arm64"
    #else
    public static let lambdaName = "x86_64"
    #endif
}

public enum Validation {
    static let reservedEnvironmentKeys: Set<String> = [
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    ]
    static let rolePatternText = "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"

    public static func validateCreate(_ request: CreateFunctionRequest) throws(LambdaError) -> ValidatedCreate {
        guard let rawName = request.functionName else { throw missing("functionName") }
        let reference = try FunctionReference.parse(rawName)
        if let q = reference.qualifier {
            throw LambdaError(.invalidParameterValue, "CreateFunction takes an unqualified function name; remove ':\(q)' from '\(rawName)'.")
        }
        try refuseUnsupported(request.unsupported)
        if let packageType = request.packageType, packageType != "Zip" {
            if packageType == "Image" {
                throw LambdaError(.invalidParameterValue, "PackageType Image is not supported by Isola yet; package the function as a .zip (PackageType Zip).")
            }
            throw .validation([enumViolation(packageType, "packageType", ["Zip", "Image"])])
        }
        guard let role = request.role else { throw missing("role") }
        guard let code = request.code else { throw missing("code") }
        let zip = try decodeZip(code)
        guard let runtime = request.runtime, let handler = request.handler else {
            throw LambdaError(.invalidParameterValue, "Runtime and Handler are mandatory parameters for functions created with deployment packages.")
        }
        var settings = FunctionSettings(runtime: runtime, role: role, handler: handler)
        var violations: [ConstraintViolation] = []
        apply(
            runtime: runtime, role: role, handler: handler, description: request.description, timeout: request.timeout,
            memorySize: request.memorySize, ephemeral: request.ephemeralStorage, tracing: request.tracingConfig,
            logging: request.loggingConfig, to: &settings, violations: &violations
        )
        var tenancy: TenancyConfig?
        if let input = request.tenancyConfig {
            if let mode = input.tenantIsolationMode {
                if mode == TenancyConfig.perTenant.tenantIsolationMode {
                    tenancy = .perTenant
                } else {
                    violations.append(enumViolation(mode, "tenancyConfig.tenantIsolationMode", ["PER_TENANT"]))
                }
            } else {
                violations.append(ConstraintViolation(value: "null", field: "tenancyConfig.tenantIsolationMode", constraint: "Member must not be null"))
            }
        }
        if let architectures = request.architectures {
            violations += architectureViolations(architectures)
        }
        guard violations.isEmpty else { throw .validation(violations) }
        try checkRuntime(runtime)
        try checkLogging(settings)
        if let architectures = request.architectures { try checkArchitecture(architectures) }
        if let environment = request.environment { settings.environment = try checkEnvironment(environment) }
        let tags = try checkTags(request.tags ?? [:])
        return ValidatedCreate(name: reference.name, settings: settings, tenancy: tenancy, tags: tags, zip: zip, publish: request.publish ?? false)
    }

    /// Applies UpdateFunctionConfiguration to the current settings of `$LATEST`.
    public static func applyUpdate(_ request: UpdateFunctionConfigurationRequest, to current: FunctionSettings) throws(LambdaError) -> FunctionSettings {
        if request.tenancyConfig != nil {
            throw LambdaError(
                .invalidParameterValue,
                "TenancyConfig cannot be changed after the function is created. To change tenant isolation, create a new function with the tenancy configuration you need."
            )
        }
        try refuseUnsupported(request.unsupported)
        var settings = current
        var violations: [ConstraintViolation] = []
        apply(
            runtime: request.runtime, role: request.role, handler: request.handler, description: request.description,
            timeout: request.timeout, memorySize: request.memorySize, ephemeral: request.ephemeralStorage,
            tracing: request.tracingConfig, logging: request.loggingConfig, to: &settings, violations: &violations
        )
        guard violations.isEmpty else { throw .validation(violations) }
        if let runtime = request.runtime { try checkRuntime(runtime) }
        try checkLogging(settings)
        if let environment = request.environment {
            settings.environment = try checkEnvironment(environment)
        }
        return settings
    }

    // MARK: - Pieces

    static func apply(
        runtime: String?, role: String?, handler: String?, description: String?, timeout: Int?, memorySize: Int?,
        ephemeral: EphemeralStorage?, tracing: TracingConfig?, logging: LoggingConfig?,
        to settings: inout FunctionSettings, violations: inout [ConstraintViolation]
    ) {
        if let runtime { settings.runtime = runtime }
        if let role {
            if isRole(role) { settings.role = role } else {
                violations.append(ConstraintViolation(value: role, field: "role", constraint: "Member must satisfy regular expression pattern: \(rolePatternText)"))
            }
        }
        if let handler {
            if handler.count > Limits.maxHandlerLength {
                violations.append(ConstraintViolation(value: handler, field: "handler", constraint: "Member must have length less than or equal to \(Limits.maxHandlerLength)"))
            } else if handler.isEmpty || handler.contains(where: \.isWhitespace) {
                violations.append(ConstraintViolation(value: handler, field: "handler", constraint: "Member must satisfy regular expression pattern: [^\\s]+"))
            } else {
                settings.handler = handler
            }
        }
        if let description {
            if description.count > Limits.maxDescriptionLength {
                violations.append(ConstraintViolation(value: description, field: "description", constraint: "Member must have length less than or equal to \(Limits.maxDescriptionLength)"))
            } else {
                settings.description = description
            }
        }
        if let timeout {
            if let v = range(timeout, "timeout", 1, Limits.maxTimeoutSeconds) { violations.append(v) } else { settings.timeout = timeout }
        }
        if let memorySize {
            if let v = range(memorySize, "memorySize", Limits.minMemoryMB, Limits.maxMemoryMB) { violations.append(v) } else { settings.memorySize = memorySize }
        }
        if let ephemeral {
            if let v = range(ephemeral.size, "ephemeralStorage.size", Limits.minEphemeralStorageMB, Limits.maxEphemeralStorageMB) {
                violations.append(v)
            } else {
                settings.ephemeralStorageMB = ephemeral.size
            }
        }
        if let mode = tracing?.mode {
            if ["Active", "PassThrough"].contains(mode) { settings.tracingMode = mode } else {
                violations.append(enumViolation(mode, "tracingConfig.mode", ["Active", "PassThrough"]))
            }
        }
        if let logging {
            if let format = logging.logFormat {
                if ["JSON", "Text"].contains(format) { settings.logFormat = format } else {
                    violations.append(enumViolation(format, "loggingConfig.logFormat", ["JSON", "Text"]))
                }
            }
            if let level = logging.applicationLogLevel {
                let levels = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
                if levels.contains(level) { settings.applicationLogLevel = level } else {
                    violations.append(enumViolation(level, "loggingConfig.applicationLogLevel", levels))
                }
            }
            if let level = logging.systemLogLevel {
                let levels = ["DEBUG", "INFO", "WARN"]
                if levels.contains(level) { settings.systemLogLevel = level } else {
                    violations.append(enumViolation(level, "loggingConfig.systemLogLevel", levels))
                }
            }
            if let group = logging.logGroup {
                if isLogGroupName(group) { settings.logGroup = group } else {
                    violations.append(ConstraintViolation(value: group, field: "loggingConfig.logGroup", constraint: "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"))
                }
            }
            // Switching back to Text drops the stored levels, which only JSON logs carry; levels sent in the
            // same request are kept so that checkLogging refuses them.
            if logging.logFormat == "Text" {
                settings.applicationLogLevel = logging.applicationLogLevel
                settings.systemLogLevel = logging.systemLogLevel
            }
        }
    }

    static func checkRuntime(_ runtime: String) throws(LambdaError) {
        guard Runtimes.isSupported(runtime) else {
            throw LambdaError(
                .invalidParameterValue,
                "The runtime parameter of \(runtime) is not supported by Isola. Valid runtimes: \(Runtimes.all.joined(separator: ", "))."
            )
        }
    }

    static func checkLogging(_ settings: FunctionSettings) throws(LambdaError) {
        if settings.logFormat != "JSON", settings.applicationLogLevel != nil || settings.systemLogLevel != nil {
            throw LambdaError(
                .invalidParameterValue,
                "ApplicationLogLevel and SystemLogLevel can be set only when LogFormat is JSON. Set LoggingConfig LogFormat=JSON, or remove the log levels."
            )
        }
    }

    public static func architectureViolations(_ architectures: [String]) -> [ConstraintViolation] {
        if architectures.count != 1 {
            return [ConstraintViolation(value: "\(architectures)", field: "architectures", constraint: "Member must have length less than or equal to 1")]
        }
        return architectures.filter { !["x86_64", "arm64"].contains($0) }.map { enumViolation($0, "architectures.member", ["x86_64", "arm64"]) }
    }

    public static func checkArchitecture(_ architectures: [String]) throws(LambdaError) {
        if let requested = architectures.first, requested != HostArchitecture.lambdaName {
            throw LambdaError(
                .invalidParameterValue,
                "Isola runs functions on its host's architecture (\(HostArchitecture.lambdaName)); \(requested) is not available on this host. Omit --architectures or pass \(HostArchitecture.lambdaName)."
            )
        }
    }

    static func checkEnvironment(_ environment: EnvironmentVariables) throws(LambdaError) -> [String: String]? {
        guard let variables = environment.variables, !variables.isEmpty else { return nil }
        let badKeys = variables.keys.filter { !isEnvironmentKey($0) }.sorted()
        if !badKeys.isEmpty {
            throw .validation(badKeys.map {
                ConstraintViolation(value: $0, field: "environment.variables", constraint: "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]")
            })
        }
        let reserved = variables.keys.filter { reservedEnvironmentKeys.contains($0) }.sorted()
        if !reserved.isEmpty {
            throw LambdaError(
                .invalidParameterValue,
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: \(reserved.joined(separator: ", "))"
            )
        }
        // AWS measures the JSON of the map; keys sorted here so the figure does not depend on hashing order.
        let measured = "{" + variables.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",") + "}"
        if measured.utf8.count > Limits.environmentBytes {
            throw LambdaError(
                .invalidParameterValue,
                "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: \(measured.prefix(200))..."
            )
        }
        return variables
    }

    public static func checkTags(_ tags: [String: String]) throws(LambdaError) -> [String: String] {
        if tags.count > Limits.maxTags {
            throw LambdaError(.invalidParameterValue, "Number of tags exceeds resource tag limit of \(Limits.maxTags). Remove tags and try again.")
        }
        for (key, value) in tags {
            if key.isEmpty || key.count > Limits.maxTagKeyLength {
                throw LambdaError(.invalidParameterValue, "Tag key '\(key)' must be 1 to \(Limits.maxTagKeyLength) characters long.")
            }
            if value.count > Limits.maxTagValueLength {
                throw LambdaError(.invalidParameterValue, "The value of tag '\(key)' must be at most \(Limits.maxTagValueLength) characters long.")
            }
            if key.lowercased().hasPrefix("aws:") {
                throw LambdaError(.invalidParameterValue, "Tag keys starting with 'aws:' are reserved for AWS use; rename the tag '\(key)'.")
            }
        }
        return tags
    }

    public static func checkAliasName(_ name: String) throws(LambdaError) {
        let ok = !name.isEmpty && name.count <= Limits.maxAliasNameLength
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            && !name.allSatisfy { $0.isNumber }
        guard ok else {
            throw .validation([ConstraintViolation(value: name, field: "name", constraint: "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")])
        }
    }

    static func decodeZip(_ code: FunctionCodeInput) throws(LambdaError) -> Data {
        if code.s3Bucket != nil || code.s3Key != nil || code.s3ObjectVersion != nil {
            throw LambdaError(.invalidParameterValue, "Code from S3 (S3Bucket/S3Key) is not supported by Isola yet; upload the .zip directly (--zip-file fileb://function.zip).")
        }
        if code.imageUri != nil {
            throw LambdaError(.invalidParameterValue, "Container images (ImageUri) are not supported by Isola yet; upload a .zip (--zip-file fileb://function.zip).")
        }
        return try decodeZipFile(code.zipFile)
    }

    public static func decodeZipFile(_ base64: String?) throws(LambdaError) -> Data {
        guard let base64 else {
            throw LambdaError(.invalidParameterValue, "Please provide a source for function code: Code.ZipFile (aws lambda create-function --zip-file fileb://function.zip).")
        }
        guard let zip = Data(base64Encoded: base64) else {
            throw LambdaError.malformedJSON("ZipFile is not valid base64.")
        }
        if zip.count > Limits.zippedCodeBytes { throw LambdaError.zippedTooLarge(limit: Limits.zippedCodeBytes) }
        return zip
    }

    static func refuseUnsupported(_ members: UnsupportedMembers) throws(LambdaError) {
        guard !members.present.isEmpty else { return }
        throw LambdaError(
            .invalidParameterValue,
            "Isola does not support \(members.present.joined(separator: ", ")) yet; remove \(members.present.count == 1 ? "it" : "them") from the request."
        )
    }

    // MARK: - Small predicates

    static func missing(_ field: String) -> LambdaError {
        .validation([ConstraintViolation(value: "null", field: field, constraint: "Member must not be null")])
    }

    static func range(_ value: Int, _ field: String, _ min: Int, _ max: Int) -> ConstraintViolation? {
        if value < min { return ConstraintViolation(value: "\(value)", field: field, constraint: "Member must have value greater than or equal to \(min)") }
        if value > max { return ConstraintViolation(value: "\(value)", field: field, constraint: "Member must have value less than or equal to \(max)") }
        return nil
    }

    static func enumViolation(_ value: String, _ field: String, _ allowed: [String]) -> ConstraintViolation {
        ConstraintViolation(value: value, field: field, constraint: "Member must satisfy enum value set: [\(allowed.joined(separator: ", "))]")
    }

    static func isRole(_ role: String) -> Bool {
        // arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+
        let parts = role.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[1].isEmpty || parts[1].hasPrefix("aws"), parts[2] == "iam",
            parts[3].isEmpty, parts[4].count == 12, parts[4].allSatisfy({ $0.isASCII && $0.isNumber }), parts[5].hasPrefix("role")
        else { return false }
        var rest = parts[5].dropFirst(4)
        if rest.first == "/" { rest = rest.dropFirst() }
        let allowed = Set("+=,.@-_/")
        return !rest.isEmpty && rest.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) }
    }

    static func isEnvironmentKey(_ key: String) -> Bool {
        guard key.count >= 2, let first = key.first, first.isASCII, first.isLetter else { return false }
        return key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    static func isLogGroupName(_ name: String) -> Bool {
        let allowed = Set(".-_/#")
        return !name.isEmpty && name.count <= 512 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || allowed.contains($0)) }
    }
}

extension FunctionSettings {
    /// The settings a stored configuration was built from.
    public init(_ configuration: FunctionConfiguration) {
        self.init(runtime: configuration.runtime, role: configuration.role, handler: configuration.handler)
        description = configuration.description
        timeout = configuration.timeout
        memorySize = configuration.memorySize
        environment = configuration.environment?.variables
        tracingMode = configuration.tracingConfig.mode ?? "PassThrough"
        architecture = configuration.architectures.first ?? HostArchitecture.lambdaName
        ephemeralStorageMB = configuration.ephemeralStorage.size
        logFormat = configuration.loggingConfig.logFormat ?? "Text"
        if logFormat == "JSON" {
            applicationLogLevel = configuration.loggingConfig.applicationLogLevel
            systemLogLevel = configuration.loggingConfig.systemLogLevel
        }
        logGroup = configuration.loggingConfig.logGroup
    }

    /// The LoggingConfig AWS returns: the log group always named, levels (INFO by default) only for JSON.
    public func loggingConfig(functionName: String) -> LoggingConfig {
        let json = logFormat == "JSON"
        return LoggingConfig(
            logFormat: logFormat,
            applicationLogLevel: json ? (applicationLogLevel ?? "INFO") : nil,
            systemLogLevel: json ? (systemLogLevel ?? "INFO") : nil,
            logGroup: logGroup ?? "/aws/lambda/\(functionName)"
        )
    }
}
