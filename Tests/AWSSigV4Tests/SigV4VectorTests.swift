import AWSSigV4
import Foundation
import Testing

/// AWS's published SigV4 test suite (aws-sig-v4-test-suite), plus Lambda-shaped vectors. Every expected
/// signature below was re-computed with botocore 1.43 (`SigV4Auth.add_auth` with `get_current_datetime`
/// patched to 2015-08-30T12:36:00Z) before being embedded here.
enum Vector {
    static let credentials = SigV4Credentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let amzDate = "20150830T123600Z"
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let host = "example.amazonaws.com"

    static func request(_ method: String, _ path: String, query: String = "", headers: [(name: String, value: String)] = [], host: String = host, body: Data = Data()) -> SigV4Request {
        SigV4Request(method: method, rawPath: path, rawQuery: query, headers: [("Host", host)] + headers, payloadSHA256Hex: SigV4.sha256Hex(body))
    }

    /// Signs with `SigV4.sign` and returns the `Authorization` header value.
    static func authorization(_ request: SigV4Request, service: String = "service") -> String? {
        SigV4.sign(request, credentials: credentials, region: "us-east-1", service: service, amzDate: amzDate)
            .first { $0.name == "Authorization" }?.value
    }

    static func expectedAuthorization(service: String = "service", signedHeaders: String = "host;x-amz-date", signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/\(service)/aws4_request, SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }
}

@Suite("SigV4 signing against published vectors")
struct SigV4VectorTests {
    @Test func getVanilla() {
        let auth = Vector.authorization(Vector.request("GET", "/"))
        #expect(auth == Vector.expectedAuthorization(signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"))
    }

    @Test func getVanillaQueryOrderKeyCase() {
        let request = Vector.request("GET", "/", query: "Param2=value2&Param1=value1")
        #expect(Vector.authorization(request) == Vector.expectedAuthorization(signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"))
    }

    @Test func getVanillaQueryOrderKeyCaseCanonicalRequest() {
        // The .creq file of the suite, with X-Amz-Date added as `sign` adds it.
        var request = Vector.request("GET", "/", query: "Param2=value2&Param1=value1")
        request.headers.append(("X-Amz-Date", Vector.amzDate))
        let canonical = SigV4.canonicalRequest(request, signedHeaders: ["host", "x-amz-date"])
        #expect(canonical == """
            GET
            /
            Param1=value1&Param2=value2
            host:example.amazonaws.com
            x-amz-date:20150830T123600Z

            host;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
    }

    @Test func postVanilla() {
        let auth = Vector.authorization(Vector.request("POST", "/"))
        #expect(auth == Vector.expectedAuthorization(signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))
    }

    @Test func getUTF8() {
        // The suite's request line is `GET /ሴ`; its canonical URI is /%E1%88%B4. `canonicalRequest` encodes the
        // raw path itself, so the unencoded UTF-8 path is what goes in.
        let request = Vector.request("GET", "/ሴ")
        #expect(Vector.authorization(request) == Vector.expectedAuthorization(signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"))
        var dated = request
        dated.headers.append(("X-Amz-Date", Vector.amzDate))
        #expect(SigV4.canonicalRequest(dated, signedHeaders: ["host", "x-amz-date"]).split(separator: "\n").dropFirst().first == "/%E1%88%B4")
    }

    @Test func getHeaderValueTrim() {
        // get-header-value-trim: leading spaces trimmed, inner runs of spaces collapsed. Signed with explicit
        // signed headers, since `sign` only signs host, x-amz-* and content-type.
        var request = Vector.request("GET", "/", headers: [("My-Header1", " value1"), ("My-Header2", #" "a   b   c""#)])
        request.headers.append(("X-Amz-Date", Vector.amzDate))
        let canonical = SigV4.canonicalRequest(request, signedHeaders: ["host", "my-header1", "my-header2", "x-amz-date"])
        #expect(canonical.contains("\nmy-header1:value1\nmy-header2:\"a b c\"\n"))
        let signature = SigV4.signature(secret: Vector.credentials.secretAccessKey, amzDate: Vector.amzDate, region: "us-east-1", service: "service", canonicalRequest: canonical)
        #expect(signature == "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736")
    }

    @Test func lambdaPathIsEncodedTwice() {
        // Generated with botocore 1.43:
        //   AWSRequest(method='GET', url='https://example.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3A
        //   us-east-1%3A000000000000%3Afunction%3Ademo/configuration?Qualifier=%24LATEST', data=b'')
        //   SigV4Auth(creds, 'lambda', 'us-east-1').add_auth(req) at 2015-08-30T12:36:00Z.
        // botocore's canonical URI is .../arn%253Aaws%253Alambda... (the on-the-wire path encoded once more).
        let path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ademo/configuration"
        let request = Vector.request("GET", path, query: "Qualifier=%24LATEST")
        #expect(Vector.authorization(request, service: "lambda")
            == Vector.expectedAuthorization(service: "lambda", signature: "e905b0cc94d2c1510329961aae8a07eca755ab74a289558548009d053a26d4c0"))
        let canonical = SigV4.canonicalRequest(request, signedHeaders: ["host"])
        #expect(canonical.contains("\n/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A000000000000%253Afunction%253Ademo/configuration\nQualifier=%24LATEST\n"))
    }

    @Test func lambdaPostWithBodyAndContentType() {
        // Generated with botocore 1.43: AWSRequest(method='POST', url='https://lambda.us-east-1.amazonaws.com/2015-03-31/functions',
        // data=b'{"FunctionName":"demo"}', headers={'Content-Type': 'application/json'}), service lambda, same timestamp.
        let body = Data(#"{"FunctionName":"demo"}"#.utf8)
        let request = Vector.request("POST", "/2015-03-31/functions", headers: [("Content-Type", "application/json")], host: "lambda.us-east-1.amazonaws.com", body: body)
        #expect(request.payloadSHA256Hex == "94feae5f265a49eea1d85d208bd7ab1412d40927729ba4c5b6a9db97a262edf2")
        #expect(Vector.authorization(request, service: "lambda") == Vector.expectedAuthorization(
            service: "lambda", signedHeaders: "content-type;host;x-amz-date",
            signature: "b018382d063050acd0ce4d80ea18553bb68f07de43735e9563cf56b52abb75d8"
        ))
    }

    @Test func signAddsDateAndSessionToken() {
        let credentials = SigV4Credentials(accessKeyId: "AKID", secretAccessKey: "secret", sessionToken: "TOKEN")
        let added = SigV4.sign(Vector.request("GET", "/"), credentials: credentials, region: "us-east-1", service: "lambda", amzDate: Vector.amzDate)
        #expect(added.map(\.name) == ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"])
        #expect(added[0].value == Vector.amzDate)
        #expect(added[1].value == "TOKEN")
        #expect(added[2].value.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"))
    }
}

@Suite("SigV4 building blocks")
struct SigV4PartsTests {
    @Test func emptyPayloadHash() {
        #expect(SigV4.sha256Hex(Data()) == Vector.emptySHA256)
    }

    @Test func uriEncoding() {
        #expect(SigV4.uriEncode("a b/c~d_e.f-g", keepSlash: true) == "a%20b/c~d_e.f-g")
        #expect(SigV4.uriEncode("a/b:c$", keepSlash: false) == "a%2Fb%3Ac%24")
        #expect(SigV4.uriEncode("ሴ", keepSlash: false) == "%E1%88%B4")
    }

    @Test func percentDecoding() {
        #expect(SigV4.percentDecode("%24LATEST") == "$LATEST")
        #expect(SigV4.percentDecode("a+b%20c") == "a+b c")
        #expect(SigV4.percentDecode("%E1%88%B4") == "ሴ")
        #expect(SigV4.percentDecode("100%") == "100%")
    }

    @Test func canonicalQuerySortsByKeyThenValue() {
        #expect(SigV4.canonicalQuery("b=2&a=2&a=1&c") == "a=1&a=2&b=2&c=")
        #expect(SigV4.canonicalQuery("Qualifier=$LATEST") == "Qualifier=%24LATEST")
        #expect(SigV4.canonicalQuery("Qualifier=%24LATEST") == "Qualifier=%24LATEST")
        #expect(SigV4.canonicalQuery("") == "")
    }

    @Test func amzDateRoundTrip() throws {
        let date = try #require(SigV4.parseAmzDate("20150830T123600Z"))
        #expect(date.timeIntervalSince1970 == 1_440_938_160)
        #expect(SigV4.amzDate(date) == "20150830T123600Z")
        #expect(SigV4.amzDate(Date(timeIntervalSince1970: 1_440_938_160.999)) == "20150830T123600Z")
    }

    @Test(arguments: ["", "20150830T123600", "20150830 123600Z", "20151330T123600Z", "20150830T253600Z", "2015-08-30T12:36:00Z"])
    func malformedAmzDatesAreRejected(_ text: String) {
        #expect(SigV4.parseAmzDate(text) == nil)
    }

    @Test func authorizationHeaderParsing() throws {
        let header = Vector.expectedAuthorization(signedHeaders: "Host;X-Amz-Date", signature: String(repeating: "a", count: 64))
        let parsed = try #require(SigV4Authorization.parse(header))
        #expect(parsed.accessKeyId == "AKIDEXAMPLE")
        #expect(parsed.date == "20150830")
        #expect(parsed.region == "us-east-1")
        #expect(parsed.service == "service")
        #expect(parsed.signedHeaders == ["host", "x-amz-date"])
        #expect(SigV4Authorization.parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host") == nil)
        #expect(SigV4Authorization.parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service, SignedHeaders=host, Signature=\(String(repeating: "a", count: 64))") == nil)
        #expect(SigV4Authorization.parse("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host, Signature=abc") == nil)
        #expect(SigV4Authorization.parse("AWS AKID:signature") == nil)
    }
}
