import Foundation
import LambdaAPI
import Testing

@Suite("LambdaError")
struct LambdaErrorTests {
    @Test func bodyUsesLowercaseMessageForMostShapes() {
        let error = LambdaError(.invalidParameterValue, "bad")
        #expect(error.body == ["Type": "User", "message": "bad"])
        #expect(LambdaError(.validation, "v").body == ["Type": "User", "message": "v"])
        #expect(LambdaError(.resourceConflict, "c").body == ["Type": "User", "message": "c"])
    }

    @Test func bodyUsesCapitalMessageWhereTheModelDoes() {
        #expect(LambdaError.functionNotFound("arn:aws:lambda:us-east-1:000000000000:function:x").body
            == ["Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:x"])
        #expect(LambdaError(.service, "boom").body == ["Type": "Service", "Message": "boom"])
        #expect(LambdaError(.requestEntityTooLarge, "big").body == ["Type": "User", "Message": "big"])
    }

    @Test func reasonIsCarried() {
        let error = LambdaError(.tooManyRequests, "Rate Exceeded.", reason: "ReservedFunctionConcurrentInvocationLimitExceeded")
        #expect(error.body == ["Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"])
    }

    @Test func statusesAndFaultTypes() {
        let expected: [LambdaError.Code: Int] = [
            .invalidParameterValue: 400, .invalidRequestContent: 400, .validation: 400, .resourceNotFound: 404,
            .unknownOperation: 404, .resourceConflict: 409, .preconditionFailed: 412, .tooManyRequests: 429,
            .requestTooLarge: 413, .requestEntityTooLarge: 413, .unsupportedMediaType: 415, .resourceNotReady: 502,
            .service: 500, .missingAuthenticationToken: 403, .unrecognizedClient: 403, .invalidSignature: 403, .incompleteSignature: 403,
        ]
        #expect(expected.count == LambdaError.Code.allCases.count)
        for code in LambdaError.Code.allCases {
            #expect(code.httpStatus == expected[code], "\(code)")
            #expect(code.faultType == (code.httpStatus >= 500 ? "Service" : "User"))
        }
        #expect(LambdaError.Code.resourceNotReady.faultType == "Service")
    }

    @Test func validationTextSingularAndPlural() {
        let one = ConstraintViolation(value: "0", field: "timeout", constraint: "c1")
        let two = ConstraintViolation(value: "x", field: "f", constraint: "c2")
        #expect(LambdaError.validation([one]).message == "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: c1")
        #expect(LambdaError.validation([one, two]).message
            == "2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint: c1; Value 'x' at 'f' failed to satisfy constraint: c2")
        #expect(LambdaError.validation([one]).description.hasPrefix("ValidationException: 1 validation error"))
    }
}

@Suite("LambdaTimestamp")
struct LambdaTimestampTests {
    @Test func formatsUTCWithMilliseconds() {
        #expect(LambdaTimestamp.string(from: Date(timeIntervalSince1970: 1_763_719_200)) == "2025-11-21T10:00:00.000+0000")
        #expect(LambdaTimestamp.string(from: Date(timeIntervalSince1970: 1_763_719_200.123)) == "2025-11-21T10:00:00.123+0000")
        #expect(LambdaTimestamp.string(from: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000+0000")
        #expect(LambdaTimestamp.string(from: Date(timeIntervalSince1970: 951_825_599.9999)) == "2000-02-29T11:59:59.999+0000")
    }
}

/// A configuration with every member set, as the control plane would build it.
func sampleConfiguration(tenancy: TenancyConfig? = .perTenant, environment: EnvironmentVariables? = nil) -> FunctionConfiguration {
    FunctionConfiguration(
        functionName: "demo", functionArn: "arn:aws:lambda:us-east-1:123456789012:function:demo", runtime: "python3.12",
        role: "arn:aws:iam::123456789012:role/r", handler: "app.handler", codeSize: 22, description: "", timeout: 3, memorySize: 128,
        lastModified: "2025-11-21T10:00:00.000+0000", codeSha256: "abc=", version: "$LATEST", environment: environment,
        tracingConfig: TracingConfig(mode: "PassThrough"), revisionId: "rev-1", architectures: ["x86_64"],
        ephemeralStorage: EphemeralStorage(size: 512), runtimeVersionConfig: RuntimeVersionConfig(runtimeVersionArn: "arn:aws:lambda:us-east-1::runtime:x"),
        loggingConfig: LoggingConfig(logFormat: "Text", logGroup: "/aws/lambda/demo"), tenancyConfig: tenancy
    )
}

func jsonObject(_ value: some Encodable) throws -> [String: Any] {
    let data = try JSONEncoder().encode(value)
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("Wire shapes")
struct WireShapeTests {
    @Test func functionConfigurationUsesAWSKeys() throws {
        let json = try jsonObject(sampleConfiguration(environment: EnvironmentVariables(variables: ["A1": "b"])))
        #expect(Set(json.keys) == [
            "FunctionName", "FunctionArn", "Runtime", "Role", "Handler", "CodeSize", "Description", "Timeout", "MemorySize",
            "LastModified", "CodeSha256", "Version", "Environment", "TracingConfig", "RevisionId", "State", "LastUpdateStatus",
            "PackageType", "Architectures", "EphemeralStorage", "SnapStart", "RuntimeVersionConfig", "LoggingConfig", "TenancyConfig",
        ])
        #expect(json["TenancyConfig"] as? [String: String] == ["TenantIsolationMode": "PER_TENANT"])
        #expect(json["State"] as? String == "Active")
        #expect(json["LastUpdateStatus"] as? String == "Successful")
        #expect(json["PackageType"] as? String == "Zip")
        #expect(json["SnapStart"] as? [String: String] == ["ApplyOn": "None", "OptimizationStatus": "Off"])
        #expect(json["Environment"] as? [String: [String: String]] == ["Variables": ["A1": "b"]])
        #expect(json["EphemeralStorage"] as? [String: Int] == ["Size": 512])
        #expect(json["LoggingConfig"] as? [String: String] == ["LogFormat": "Text", "LogGroup": "/aws/lambda/demo"])
    }

    @Test func absentOptionalsAreOmitted() throws {
        let json = try jsonObject(sampleConfiguration(tenancy: nil))
        #expect(json["TenancyConfig"] == nil)
        #expect(json["Environment"] == nil)
        #expect(json["FunctionName"] as? String == "demo")
    }

    @Test func functionConfigurationRoundTrips() throws {
        let configuration = sampleConfiguration()
        let decoded = try JSONDecoder().decode(FunctionConfiguration.self, from: JSONEncoder().encode(configuration))
        #expect(decoded == configuration)
    }

    @Test func publishEquivalenceIgnoresOnlyIdentityAndRevision() {
        let base = sampleConfiguration()
        var republished = base
        republished.revisionId = "rev-2"
        republished.lastModified = "2026-01-01T00:00:00.000+0000"
        republished.version = "3"
        republished.functionArn += ":3"
        republished.description = "release notes"
        #expect(base.isPublishEquivalent(to: republished))
        var changed = base
        changed.timeout = 4
        #expect(!base.isPublishEquivalent(to: changed))
        var recoded = base
        recoded.codeSha256 = "other="
        #expect(!base.isPublishEquivalent(to: recoded))
    }

    @Test func settingsFromConfigurationAndLoggingConfig() {
        var configuration = sampleConfiguration()
        configuration.loggingConfig = LoggingConfig(logFormat: "JSON", applicationLogLevel: "WARN", systemLogLevel: nil, logGroup: nil)
        configuration.environment = EnvironmentVariables(variables: ["K1": "v"])
        let settings = FunctionSettings(configuration)
        #expect(settings.logFormat == "JSON")
        #expect(settings.applicationLogLevel == "WARN")
        #expect(settings.environment == ["K1": "v"])
        #expect(settings.loggingConfig(functionName: "demo")
            == LoggingConfig(logFormat: "JSON", applicationLogLevel: "WARN", systemLogLevel: "INFO", logGroup: "/aws/lambda/demo"))
        #expect(FunctionSettings(sampleConfiguration()).loggingConfig(functionName: "demo")
            == LoggingConfig(logFormat: "Text", applicationLogLevel: nil, systemLogLevel: nil, logGroup: "/aws/lambda/demo"))
    }

    @Test func accountSettingsKeys() throws {
        let json = try jsonObject(AccountSettings(unreservedConcurrency: 900, totalCodeSize: 44, functionCount: 2))
        #expect(json["AccountUsage"] as? [String: Int] == ["TotalCodeSize": 44, "FunctionCount": 2])
        let limit = try #require(json["AccountLimit"] as? [String: Int])
        #expect(limit["UnreservedConcurrentExecutions"] == 900)
        #expect(limit["ConcurrentExecutions"] == 1000)
        #expect(limit["CodeSizeZipped"] == 52_428_800)
        #expect(limit["CodeSizeUnzipped"] == 262_144_000)
    }
}
