import Foundation
import LambdaAPI
import Testing

/// CreateFunction bodies as JSON, since the request shapes are built by decoding (as the server builds them).
enum Body {
    /// Base64 of an empty zip (just the end-of-central-directory record); validation only decodes it.
    static let emptyZip = Data([0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18)).base64EncodedString()

    static var base: [String: Any] {
        [
            "FunctionName": "demo",
            "Runtime": "python3.12",
            "Role": "arn:aws:iam::123456789012:role/lambda-role",
            "Handler": "app.handler",
            "Code": ["ZipFile": emptyZip],
        ]
    }

    /// The base body with `changes` applied; `NSNull()` removes a member.
    static func create(_ changes: [String: Any] = [:]) throws -> CreateFunctionRequest {
        var body = base
        for (key, value) in changes {
            if value is NSNull { body[key] = nil } else { body[key] = value }
        }
        return try JSONDecoder().decode(CreateFunctionRequest.self, from: JSONSerialization.data(withJSONObject: body))
    }

    static func update(_ json: String) throws -> UpdateFunctionConfigurationRequest {
        try JSONDecoder().decode(UpdateFunctionConfigurationRequest.self, from: Data(json.utf8))
    }
}

/// The error `Validation.validateCreate` throws for the base body with `changes`.
func createError(_ changes: [String: Any]) throws -> LambdaError? {
    let request = try Body.create(changes)
    return lambdaError { try Validation.validateCreate(request) }
}

@Suite("Validation.validateCreate")
struct ValidateCreateTests {
    @Test func defaults() throws {
        let validated = try Validation.validateCreate(try Body.create())
        #expect(validated.name == "demo")
        #expect(validated.tenancy == nil)
        #expect(validated.tags == [:])
        #expect(validated.publish == false)
        #expect(validated.zip.count == 22)
        var expected = FunctionSettings(runtime: "python3.12", role: "arn:aws:iam::123456789012:role/lambda-role", handler: "app.handler")
        expected.timeout = 3
        expected.memorySize = 128
        expected.ephemeralStorageMB = 512
        expected.tracingMode = "PassThrough"
        expected.logFormat = "Text"
        #expect(validated.settings == expected)
    }

    @Test func acceptedValuesAreCarried() throws {
        let validated = try Validation.validateCreate(try Body.create([
            "Timeout": 900, "MemorySize": 10240, "Description": "d", "Publish": true,
            "EphemeralStorage": ["Size": 10240], "TracingConfig": ["Mode": "Active"],
            "LoggingConfig": ["LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "LogGroup": "/custom/group"],
            "Environment": ["Variables": ["STAGE": "prod"]], "Tags": ["team": "core"],
            "Architectures": [HostArchitecture.lambdaName], "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:demo",
        ]))
        #expect(validated.name == "demo")
        #expect(validated.publish)
        #expect(validated.settings.timeout == 900)
        #expect(validated.settings.memorySize == 10240)
        #expect(validated.settings.ephemeralStorageMB == 10240)
        #expect(validated.settings.tracingMode == "Active")
        #expect(validated.settings.applicationLogLevel == "DEBUG")
        #expect(validated.settings.logGroup == "/custom/group")
        #expect(validated.settings.environment == ["STAGE": "prod"])
        #expect(validated.tags == ["team": "core"])
    }

    @Test(arguments: [
        (0, "timeout", "Member must have value greater than or equal to 1"),
        (901, "timeout", "Member must have value less than or equal to 900"),
        (127, "memorySize", "Member must have value greater than or equal to 128"),
        (10241, "memorySize", "Member must have value less than or equal to 10240"),
    ])
    func rangeViolations(_ value: Int, _ field: String, _ constraint: String) throws {
        let member = field == "timeout" ? "Timeout" : "MemorySize"
        #expect(try createError([member: value]) == LambdaError(
            .validation, "1 validation error detected: Value '\(value)' at '\(field)' failed to satisfy constraint: \(constraint)"
        ))
    }

    @Test func ephemeralStorageRange() throws {
        #expect(try createError(["EphemeralStorage": ["Size": 511]])?.message
            == "1 validation error detected: Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater than or equal to 512")
    }

    @Test func severalViolationsAreReportedTogether() throws {
        #expect(try createError(["Timeout": 0, "MemorySize": 127])?.message == """
            2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; \
            Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128
            """)
        let three = try createError(["Timeout": 901, "Handler": "has space", "TracingConfig": ["Mode": "Off"]])
        #expect(three?.code == .validation)
        #expect(three?.message.hasPrefix("3 validation errors detected: ") == true)
        #expect(three?.message.contains("Value 'Off' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]") == true)
    }

    @Test func tenancyPerTenantIsAccepted() throws {
        let validated = try Validation.validateCreate(try Body.create(["TenancyConfig": ["TenantIsolationMode": "PER_TENANT"]]))
        #expect(validated.tenancy == TenancyConfig(tenantIsolationMode: "PER_TENANT"))
    }

    @Test func tenancyOtherModesAreRefused() throws {
        #expect(try createError(["TenancyConfig": ["TenantIsolationMode": "SHARED"]]) == LambdaError(
            .validation,
            "1 validation error detected: Value 'SHARED' at 'tenancyConfig.tenantIsolationMode' failed to satisfy constraint: Member must satisfy enum value set: [PER_TENANT]"
        ))
        #expect(try createError(["TenancyConfig": [String: String]()]) == LambdaError(
            .validation,
            "1 validation error detected: Value 'null' at 'tenancyConfig.tenantIsolationMode' failed to satisfy constraint: Member must not be null"
        ))
    }

    @Test func unknownRuntimeListsTheSupportedOnes() throws {
        let error = try createError(["Runtime": "nodejs20.x"])
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message == "The runtime parameter of nodejs20.x is not supported by Isola. Valid runtimes: python3.9, python3.10, python3.11, python3.12, python3.13, python3.14, provided.al2, provided.al2023.")
    }

    @Test func runtimeAndHandlerAreMandatory() throws {
        let text = "Runtime and Handler are mandatory parameters for functions created with deployment packages."
        #expect(try createError(["Runtime": NSNull()]) == LambdaError(.invalidParameterValue, text))
        #expect(try createError(["Handler": NSNull()]) == LambdaError(.invalidParameterValue, text))
    }

    @Test func missingRequiredMembers() throws {
        for member in ["FunctionName": "functionName", "Role": "role", "Code": "code"] {
            #expect(try createError([member.key: NSNull()]) == LambdaError(
                .validation, "1 validation error detected: Value 'null' at '\(member.value)' failed to satisfy constraint: Member must not be null"
            ))
        }
        #expect(try createError(["Code": [String: String]()])?.code == .invalidParameterValue)
    }

    @Test func qualifiedNameAndBadRoleAreRefused() throws {
        #expect(try createError(["FunctionName": "demo:1"])?.code == .invalidParameterValue)
        #expect(try createError(["Role": "lambda-role"])?.message.contains("at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern") == true)
    }

    @Test func reservedEnvironmentKeysAreRefused() throws {
        let error = try createError(["Environment": ["Variables": ["AWS_REGION": "x", "OK_KEY": "y", "AWS_LAMBDA_RUNTIME_API": "z"]]])
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message.hasSuffix("Reserved keys used in this request: AWS_LAMBDA_RUNTIME_API, AWS_REGION") == true)
        // Keys must match [a-zA-Z]([a-zA-Z0-9_])+ before the reserved list is even consulted.
        #expect(try createError(["Environment": ["Variables": ["1BAD": "x"]]])?.code == .validation)
        #expect(try createError(["Environment": ["Variables": ["_HANDLER": "x"]]])?.code == .validation)
    }

    @Test func environmentOver4KBIsRefused() throws {
        // Measured as the JSON of the map: {"AB":"<value>"} is 9 bytes plus the value.
        #expect(try Validation.validateCreate(try Body.create(["Environment": ["Variables": ["AB": String(repeating: "v", count: 4087)]]])).settings.environment?["AB"]?.count == 4087)
        let error = try createError(["Environment": ["Variables": ["AB": String(repeating: "v", count: 4088)]]])
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message.contains("exceeded the 4KB limit") == true)
    }

    @Test func tagLimits() throws {
        let fifty = Dictionary(uniqueKeysWithValues: (1...50).map { ("k\($0)", "v") })
        #expect(try Validation.validateCreate(try Body.create(["Tags": fifty])).tags.count == 50)
        let fiftyOne = Dictionary(uniqueKeysWithValues: (1...51).map { ("k\($0)", "v") })
        #expect(try createError(["Tags": fiftyOne]) == LambdaError(.invalidParameterValue, "Number of tags exceeds resource tag limit of 50. Remove tags and try again."))
        for key in ["aws:owner", "AWS:Owner"] {
            let error = try createError(["Tags": [key: "x"]])
            #expect(error?.code == .invalidParameterValue)
            #expect(error?.message.contains("reserved for AWS use") == true)
        }
        #expect(try createError(["Tags": [String(repeating: "k", count: 129): "x"]])?.code == .invalidParameterValue)
    }

    @Test func logLevelsNeedJSONFormat() throws {
        let text = "ApplicationLogLevel and SystemLogLevel can be set only when LogFormat is JSON. Set LoggingConfig LogFormat=JSON, or remove the log levels."
        #expect(try createError(["LoggingConfig": ["ApplicationLogLevel": "DEBUG"]]) == LambdaError(.invalidParameterValue, text))
        #expect(try createError(["LoggingConfig": ["SystemLogLevel": "WARN"]]) == LambdaError(.invalidParameterValue, text))
    }

    @Test func logLevelsWithExplicitTextFormatAreRefused() throws {
        // AWS refuses this ("LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your
        // request or change the LogFormat to "Json" and try again."); the levels must not be dropped silently.
        #expect(try createError(["LoggingConfig": ["LogFormat": "Text", "ApplicationLogLevel": "DEBUG"]])?.code == .invalidParameterValue)
        let update = try Body.update(#"{"LoggingConfig":{"LogFormat":"Text","SystemLogLevel":"WARN"}}"#)
        #expect(lambdaError { try Validation.applyUpdate(update, to: ApplyUpdateTests.current) }?.code == .invalidParameterValue)
    }

    @Test func otherArchitectureThanTheHostIsRefused() throws {
        let other = HostArchitecture.lambdaName == "x86_64" ? "arm64" : "x86_64"
        let error = try createError(["Architectures": [other]])
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message.contains("\(other) is not available on this host") == true)
        #expect(try createError(["Architectures": ["x86_64", "arm64"]])?.message.contains("Member must have length less than or equal to 1") == true)
        #expect(try createError(["Architectures": ["sparc"]])?.message.contains("Value 'sparc' at 'architectures.member'") == true)
    }

    @Test func codeFromS3OrImagesIsRefused() throws {
        let s3 = try createError(["Code": ["S3Bucket": "b", "S3Key": "k"]])
        #expect(s3?.code == .invalidParameterValue)
        #expect(s3?.message.hasPrefix("Code from S3 (S3Bucket/S3Key) is not supported") == true)
        let image = try createError(["Code": ["ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:latest"]])
        #expect(image?.message.hasPrefix("Container images (ImageUri) are not supported") == true)
        #expect(try createError(["PackageType": "Image"])?.code == .invalidParameterValue)
        #expect(try createError(["PackageType": "Tarball"])?.code == .validation)
        #expect(try createError(["Code": ["ZipFile": "not base64!"]])?.code == .invalidRequestContent)
    }

    @Test func unsupportedMembersAreRefused() throws {
        #expect(try createError(["VpcConfig": ["SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]]])
            == LambdaError(.invalidParameterValue, "Isola does not support VpcConfig yet; remove it from the request."))
        #expect(try createError(["Layers": ["arn:aws:lambda:us-east-1:123456789012:layer:l:1"]])
            == LambdaError(.invalidParameterValue, "Isola does not support Layers yet; remove it from the request."))
        #expect(try createError(["VpcConfig": ["SubnetIds": ["subnet-1"]], "Layers": ["l"]])
            == LambdaError(.invalidParameterValue, "Isola does not support VpcConfig, Layers yet; remove them from the request."))
        #expect(try createError(["SnapStart": ["ApplyOn": "PublishedVersions"]])?.message.contains("SnapStart") == true)
        #expect(try createError(["KMSKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"])?.message.contains("KMSKeyArn") == true)
    }

    @Test func emptyUnsupportedMembersMeanNothing() throws {
        let validated = try Validation.validateCreate(try Body.create([
            "VpcConfig": ["SubnetIds": [String](), "SecurityGroupIds": [String]()], "SnapStart": ["ApplyOn": "None"],
            "Layers": [String](), "KMSKeyArn": "", "DeadLetterConfig": [String: String](),
        ]))
        #expect(validated.name == "demo")
    }
}

@Suite("Validation.applyUpdate")
struct ApplyUpdateTests {
    static let current: FunctionSettings = {
        var settings = FunctionSettings(runtime: "python3.12", role: "arn:aws:iam::123456789012:role/r", handler: "app.handler")
        settings.logFormat = "JSON"
        settings.applicationLogLevel = "DEBUG"
        return settings
    }()

    @Test func tenancyCannotChange() throws {
        let request = try Body.update(#"{"TenancyConfig":{"TenantIsolationMode":"PER_TENANT"}}"#)
        let error = lambdaError { try Validation.applyUpdate(request, to: Self.current) }
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message.hasPrefix("TenancyConfig cannot be changed after the function is created.") == true)
    }

    @Test func changesOnlyWhatIsGiven() throws {
        let updated = try Validation.applyUpdate(try Body.update(#"{"Timeout":30,"Environment":{"Variables":{"A1":"b"}}}"#), to: Self.current)
        var expected = Self.current
        expected.timeout = 30
        expected.environment = ["A1": "b"]
        #expect(updated == expected)
    }

    @Test func switchingToTextDropsStoredLevels() throws {
        let updated = try Validation.applyUpdate(try Body.update(#"{"LoggingConfig":{"LogFormat":"Text"}}"#), to: Self.current)
        #expect(updated.logFormat == "Text")
        #expect(updated.applicationLogLevel == nil)
        #expect(updated.systemLogLevel == nil)
    }

    @Test func violationsAndUnsupportedMembers() throws {
        let error = lambdaError { try Validation.applyUpdate(try Body.update(#"{"Timeout":0,"MemorySize":20000}"#), to: Self.current) }
        #expect(error?.message.hasPrefix("2 validation errors detected: Value '0' at 'timeout'") == true)
        let layers = lambdaError { try Validation.applyUpdate(try Body.update(#"{"Layers":["l"]}"#), to: Self.current) }
        #expect(layers == LambdaError(.invalidParameterValue, "Isola does not support Layers yet; remove it from the request."))
        let runtime = lambdaError { try Validation.applyUpdate(try Body.update(#"{"Runtime":"java21"}"#), to: Self.current) }
        #expect(runtime?.code == .invalidParameterValue)
    }

    @Test func aliasNames() {
        #expect(lambdaError { try Validation.checkAliasName("live-2") } == nil)
        #expect(lambdaError { try Validation.checkAliasName("123") }?.code == .validation)
        #expect(lambdaError { try Validation.checkAliasName("") }?.code == .validation)
        #expect(lambdaError { try Validation.checkAliasName("a.b") }?.code == .validation)
    }
}
