import LambdaAPI
import Testing

/// Runs `body` and returns the `LambdaError` it threw, or nil.
func lambdaError<T>(_ body: () throws -> T) -> LambdaError? {
    do {
        _ = try body()
        return nil
    } catch let error as LambdaError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

@Suite("FunctionReference")
struct FunctionReferenceTests {
    static let patternViolation = "failed to satisfy constraint: Member must satisfy regular expression pattern: \(FunctionReference.namePattern)"

    @Test func plainName() throws {
        #expect(try FunctionReference.parse("my-function_1") == FunctionReference(name: "my-function_1"))
    }

    @Test func nameWithQualifier() throws {
        #expect(try FunctionReference.parse("my-function:prod") == FunctionReference(name: "my-function", qualifier: "prod"))
        #expect(try FunctionReference.parse("my-function:$LATEST") == FunctionReference(name: "my-function", qualifier: "$LATEST"))
        #expect(try FunctionReference.parse("my-function:7") == FunctionReference(name: "my-function", qualifier: "7"))
    }

    @Test func partialARN() throws {
        #expect(try FunctionReference.parse("123456789012:function:my-function") == FunctionReference(name: "my-function", account: "123456789012"))
        #expect(try FunctionReference.parse("123456789012:function:my-function:3")
            == FunctionReference(name: "my-function", qualifier: "3", account: "123456789012"))
    }

    @Test func fullARN() throws {
        #expect(try FunctionReference.parse("arn:aws:lambda:us-east-1:123456789012:function:my-function")
            == FunctionReference(name: "my-function", account: "123456789012", region: "us-east-1"))
        #expect(try FunctionReference.parse("arn:aws:lambda:eu-west-3:123456789012:function:my-function:live")
            == FunctionReference(name: "my-function", qualifier: "live", account: "123456789012", region: "eu-west-3"))
        #expect(try FunctionReference.parse("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f")
            == FunctionReference(name: "f", account: "123456789012", region: "us-gov-west-1"))
        #expect(try FunctionReference.parse("arn:aws:lambda:us-isob-east-1:123456789012:function:f").region == "us-isob-east-1")
    }

    @Test func emptyNameIsTooShort() {
        #expect(lambdaError { try FunctionReference.parse("") } == LambdaError(
            .validation,
            "1 validation error detected: Value '' at 'functionName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        ))
    }

    @Test func tooLongIsRefusedWithTheLimit() throws {
        let raw = String(repeating: "a", count: 141)
        #expect(lambdaError { try FunctionReference.parse(raw) } == LambdaError(
            .validation,
            "1 validation error detected: Value '\(raw)' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140"
        ))
        let error = lambdaError { try FunctionReference.parse(String(repeating: "b", count: 257), field: "resource", maxLength: 256) }
        #expect(error?.message.hasSuffix("at 'resource' failed to satisfy constraint: Member must have length less than or equal to 256") == true)
        // A plain name is limited to 64 characters even under the 140 limit of the whole reference.
        #expect(lambdaError { try FunctionReference.parse(String(repeating: "c", count: 65)) }?.code == .validation)
        #expect(try FunctionReference.parse(String(repeating: "c", count: 64)).name.count == 64)
    }

    @Test(arguments: [
        "my function", "fn!", "fünf", "fn/x", "fn:", ":q", "a:b:c", "fn:bad qualifier",
        "123456789012:function:f:1:extra", "12345:function:f", "123456789012:lambda:f",
        "arn:aws:lambda:useast1:123456789012:function:f",       // bad region
        "arn:aws:lambda:US-EAST-1:123456789012:function:f",     // bad region (case)
        "arn:aws:lambda:us-east-12:123456789012:function:f",    // bad region (two digits)
        "arn:aws:lambda:us-east-1:12345678901:function:f",      // bad account (11 digits)
        "arn:aws:lambda:us-east-1:12345678901a:function:f",     // bad account (letter)
        "arn:aws:s3:::my-bucket",
        "arn:aws:s3:us-east-1:123456789012:function:f",
        "arn:aws:lambda:us-east-1:123456789012:layer:f",
        "arn:gcp:lambda:us-east-1:123456789012:function:f",
        "arn:aws:lambda:us-east-1:123456789012:function:f:1:2",
        "arn:aws:lambda:us-east-1:123456789012:function:",
    ])
    func invalidFormsAreValidationErrors(_ raw: String) {
        let error = lambdaError { try FunctionReference.parse(raw) }
        #expect(error?.code == .validation)
        #expect(error?.message == "1 validation error detected: Value '\(raw)' at 'functionName' \(Self.patternViolation)")
    }

    @Test func qualifierParameterFillsIn() throws {
        let reference = try FunctionReference.parse("f").qualified(by: "prod")
        #expect(reference == FunctionReference(name: "f", qualifier: "prod"))
        #expect(try FunctionReference.parse("f:1").qualified(by: nil) == FunctionReference(name: "f", qualifier: "1"))
        #expect(try FunctionReference.parse("f:1").qualified(by: "1") == FunctionReference(name: "f", qualifier: "1"))
    }

    @Test func qualifierMismatchIsRefused() throws {
        let reference = try FunctionReference.parse("arn:aws:lambda:us-east-1:123456789012:function:f:1")
        #expect(lambdaError { try reference.qualified(by: "2") } == LambdaError.qualifierMismatch)
        #expect(LambdaError.qualifierMismatch.code == .invalidParameterValue)
        #expect(LambdaError.qualifierMismatch.message == "The derived qualifier from the function name does not match the specified qualifier.")
    }

    @Test func invalidQualifierParameterIsValidationError() {
        let error = lambdaError { try FunctionReference(name: "f").qualified(by: "a b") }
        #expect(error?.message == "1 validation error detected: Value 'a b' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
    }

    @Test func arnBuilder() throws {
        let arns = ARNBuilder(region: "us-east-1", account: "123456789012")
        #expect(arns.function("f") == "arn:aws:lambda:us-east-1:123456789012:function:f")
        #expect(arns.function("f", qualifier: "$LATEST") == "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST")
        #expect(arns.runtimeVersion("abc") == "arn:aws:lambda:us-east-1::runtime:abc")
        #expect(arns.owns(try FunctionReference.parse("f")))
        #expect(arns.owns(try FunctionReference.parse("123456789012:function:f")))
        #expect(arns.owns(try FunctionReference.parse("arn:aws:lambda:us-east-1:123456789012:function:f")))
        #expect(!arns.owns(try FunctionReference.parse("210987654321:function:f")))
        #expect(!arns.owns(try FunctionReference.parse("arn:aws:lambda:eu-west-1:123456789012:function:f")))
        // The ARN a builder makes parses back to the same function.
        #expect(try FunctionReference.parse(arns.function("f", qualifier: "2")) == FunctionReference(name: "f", qualifier: "2", account: "123456789012", region: "us-east-1"))
    }
}
