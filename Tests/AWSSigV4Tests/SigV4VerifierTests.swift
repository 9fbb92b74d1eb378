import AWSSigV4
import Foundation
import Testing

infix operator =~: ComparisonPrecedence

/// A failure with exactly this code and message (SigV4Failure's memberwise init is internal).
func =~ (failure: SigV4Failure?, expected: (SigV4Failure.Code, message: String)) -> Bool {
    failure?.code == expected.0 && failure?.message == expected.message
}

@Suite("SigV4Verifier")
struct SigV4VerifierTests {
    static let signedAt = SigV4.parseAmzDate(Vector.amzDate)!
    static let secrets = [Vector.credentials.accessKeyId: Vector.credentials.secretAccessKey]

    /// A request as a client sends it: the original headers plus those `sign` returned.
    static func signed(
        _ method: String = "GET", _ path: String = "/2015-03-31/functions", query: String = "",
        body: Data = Data(), credentials: SigV4Credentials = Vector.credentials, region: String = "us-east-1", service: String = "lambda"
    ) -> SigV4Request {
        var request = SigV4Request(
            method: method, rawPath: path, rawQuery: query, headers: [("host", "localhost:9000"), ("content-type", "application/json")],
            payloadSHA256Hex: SigV4.sha256Hex(body)
        )
        request.headers += SigV4.sign(request, credentials: credentials, region: region, service: service, amzDate: Vector.amzDate)
        return request
    }

    static func replacingAuthorization(_ request: SigV4Request, with value: String) -> SigV4Request {
        var copy = request
        copy.headers = copy.headers.filter { $0.name.lowercased() != "authorization" } + [("Authorization", value)]
        return copy
    }

    func failure(_ verifier: SigV4Verifier, _ request: SigV4Request, now: Date = signedAt) -> SigV4Failure? {
        do {
            _ = try verifier.verify(request, services: ["lambda"], now: now)
            return nil
        } catch {
            return error
        }
    }

    @Test func validSignatureIsAccepted() throws {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        let body = Data(#"{"FunctionName":"demo"}"#.utf8)
        let key = try verifier.verify(Self.signed("POST", body: body), services: ["lambda"], now: Self.signedAt)
        #expect(key == "AKIDEXAMPLE")
    }

    @Test func encodedPathAndQueryRoundTrip() throws {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        let request = Self.signed(
            "GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ademo/configuration",
            query: "Qualifier=%24LATEST&MaxItems=2"
        )
        #expect(try verifier.verify(request, services: ["lambda"], now: Self.signedAt) == "AKIDEXAMPLE")
    }

    @Test func sessionTokenRoundTrip() throws {
        let credentials = SigV4Credentials(accessKeyId: "ASIATEMP", secretAccessKey: "temp-secret", sessionToken: "token/with+chars=")
        let verifier = SigV4Verifier(secrets: ["ASIATEMP": "temp-secret"], region: "us-east-1")
        #expect(try verifier.verify(Self.signed(credentials: credentials), services: ["lambda"], now: Self.signedAt) == "ASIATEMP")
    }

    @Test func wrongSecretIsInvalidSignature() {
        let verifier = SigV4Verifier(secrets: ["AKIDEXAMPLE": "not-the-secret"], region: "us-east-1")
        let error = failure(verifier, Self.signed())
        #expect(error?.code == .invalidSignature)
        #expect(error?.message.hasPrefix("The request signature we calculated does not match the signature you provided.") == true)
    }

    @Test func tamperedRequestIsInvalidSignature() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        var otherPath = Self.signed()
        otherPath.rawPath = "/2015-03-31/functions/other"
        var otherQuery = Self.signed()
        otherQuery.rawQuery = "MaxItems=1"
        var otherBody = Self.signed("POST", body: Data("{}".utf8))
        otherBody.payloadSHA256Hex = SigV4.sha256Hex(Data("{\"x\":1}".utf8))
        var otherMethod = Self.signed()
        otherMethod.method = "DELETE"
        var otherHost = Self.signed()
        otherHost.headers = otherHost.headers.map { $0.name == "host" ? ("host", "evil:9000") : $0 }
        for request in [otherPath, otherQuery, otherBody, otherMethod, otherHost] {
            #expect(failure(verifier, request)?.code == .invalidSignature)
        }
    }

    @Test func unknownKeyIsUnrecognizedClient() {
        let verifier = SigV4Verifier(secrets: ["SOMEONEELSE": "secret"], region: "us-east-1")
        let error = failure(verifier, Self.signed())
        #expect(error =~ (.unrecognizedClient, message: "The security token included in the request is invalid."))
    }

    @Test func missingAuthorizationIsMissingAuthenticationToken() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        var request = Self.signed()
        request.headers.removeAll { $0.name == "Authorization" }
        #expect(failure(verifier, request) =~ (.missingAuthenticationToken, message: "Missing Authentication Token"))
    }

    @Test func missingDateIsIncompleteSignature() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        var request = Self.signed()
        request.headers.removeAll { $0.name == "X-Amz-Date" }
        #expect(failure(verifier, request)?.code == .incompleteSignature)
    }

    @Test func unsignedHostIsIncompleteSignature() {
        let verifier = SigV4Verifier(secrets: nil, region: "us-east-1")
        let request = Self.replacingAuthorization(
            Self.signed(),
            with: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, SignedHeaders=x-amz-date, Signature=\(String(repeating: "0", count: 64))"
        )
        #expect(failure(verifier, request) =~ (.incompleteSignature, message: "The request must sign the 'host' and 'x-amz-date' headers."))
    }

    @Test func scopeDateMustMatchAmzDate() {
        let verifier = SigV4Verifier(secrets: nil, region: "us-east-1")
        let request = Self.replacingAuthorization(
            Self.signed(),
            with: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150829/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(String(repeating: "0", count: 64))"
        )
        let error = failure(verifier, request)
        #expect(error?.code == .invalidSignature)
        #expect(error?.message.hasPrefix("Date in Credential scope does not match YYYYMMDD") == true)
    }

    @Test func signatureOlderThanFiveMinutesHasExpired() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        let error = failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(600))
        #expect(error =~ (.invalidSignature,
            message: "Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z (20150830T124600Z - 5 min.)"
        ))
        // Just over the limit is refused, right at it is still fine.
        #expect(failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(301))?.message.hasPrefix("Signature expired") == true)
        #expect(failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(300)) == nil)
    }

    @Test func signatureFromMoreThanFiveMinutesAheadIsNotYetCurrent() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        let error = failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(-600))
        #expect(error =~ (.invalidSignature,
            message: "Signature not yet current: 20150830T123600Z is still later than 20150830T123100Z (20150830T122600Z + 5 min.)"
        ))
        #expect(failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(-301))?.code == .invalidSignature)
        #expect(failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(-300)) == nil)
    }

    @Test func wrongRegionIsRefused() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "eu-west-1")
        let error = failure(verifier, Self.signed())
        #expect(error?.code == .invalidSignature)
        #expect(error?.message.hasPrefix("Credential should be scoped to a valid region, not 'us-east-1'.") == true)
    }

    @Test func wrongServiceIsRefused() {
        let verifier = SigV4Verifier(secrets: Self.secrets, region: "us-east-1")
        let error = failure(verifier, Self.signed(service: "s3"))
        #expect(error =~ (.invalidSignature, message: "Credential should be scoped to correct service: 'lambda'."))
    }

    @Test func withoutSecretsAWellFormedBadSignatureIsAccepted() throws {
        let verifier = SigV4Verifier(secrets: nil, region: "us-east-1")
        let signed = Self.signed()
        let header = try #require(signed.headerValues("authorization").first)
        let forged = Self.replacingAuthorization(signed, with: String(header.dropLast(64)) + String(repeating: "0", count: 64))
        #expect(try verifier.verify(forged, services: ["lambda"], now: Self.signedAt) == "AKIDEXAMPLE")
    }

    @Test func withoutSecretsAMalformedHeaderIsStillRefused() {
        let verifier = SigV4Verifier(secrets: nil, region: "us-east-1")
        for header in ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE", "Bearer abc", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=short"] {
            #expect(failure(verifier, Self.replacingAuthorization(Self.signed(), with: header))?.code == .incompleteSignature)
        }
        // Scope and clock checks still apply too.
        #expect(failure(verifier, Self.signed(region: "eu-west-1"))?.code == .invalidSignature)
        #expect(failure(verifier, Self.signed(), now: Self.signedAt.addingTimeInterval(3600))?.code == .invalidSignature)
    }
}

@Suite("CredentialsFile")
struct CredentialsFileTests {
    @Test func parsesEveryCompleteProfile() {
        let text = """
            # AWS shared credentials
            [default]
            aws_access_key_id = AKIDDEFAULT
            aws_secret_access_key = secret/default+1=

            ; a comment in ini style
              [profile dev]
            AWS_ACCESS_KEY_ID=AKIDDEV
                aws_secret_access_key   =   devsecret\t
            aws_session_token = tok==

            [incomplete]
            aws_access_key_id = AKIDNOSECRET

            [ profile  spaced ]
            region = us-east-1
            aws_access_key_id=AKIDSPACED
            aws_secret_access_key=spaced
            [empty-secret]
            aws_access_key_id = AKIDEMPTY
            aws_secret_access_key =
            """
        let profiles = CredentialsFile.parse(text)
        #expect(Set(profiles.keys) == ["default", "dev", "spaced"])
        #expect(profiles["default"] == SigV4Credentials(accessKeyId: "AKIDDEFAULT", secretAccessKey: "secret/default+1="))
        #expect(profiles["dev"] == SigV4Credentials(accessKeyId: "AKIDDEV", secretAccessKey: "devsecret", sessionToken: "tok=="))
        #expect(profiles["spaced"] == SigV4Credentials(accessKeyId: "AKIDSPACED", secretAccessKey: "spaced"))
    }

    @Test func crlfLineEndingsAndNoProfiles() {
        let profiles = CredentialsFile.parse("[a]\r\naws_access_key_id = K\r\naws_secret_access_key = S\r\n")
        #expect(profiles["a"] == SigV4Credentials(accessKeyId: "K", secretAccessKey: "S"))
        #expect(CredentialsFile.parse("aws_access_key_id = K\naws_secret_access_key = S\n").isEmpty)
        #expect(CredentialsFile.parse("").isEmpty)
    }

    @Test func parsedKeysVerifySignatures() throws {
        let profiles = CredentialsFile.parse("[ci]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
        let ci = try #require(profiles["ci"])
        let verifier = SigV4Verifier(secrets: [ci.accessKeyId: ci.secretAccessKey], region: "us-east-1")
        let request = SigV4VerifierTests.signed(credentials: ci)
        #expect(try verifier.verify(request, services: ["lambda"], now: SigV4VerifierTests.signedAt) == "AKIDEXAMPLE")
    }
}
