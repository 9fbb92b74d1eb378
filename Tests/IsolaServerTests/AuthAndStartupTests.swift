import AWSSigV4
import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaServer
import IsolaStore
import LambdaAPI
import Testing

@Suite("SigV4 on the API port")
struct SignedAPITests {
    @Test func goodSignatureIsAcceptedWithCredentials() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        try await h.withClient { client in
            let health = try await client.send(.get, "/health")
            #expect(health.json?["auth"] as? String == "sigv4")
            let created = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: try zip("x")))
            #expect(created.status == .created)
            let listed = try await client.signed(.get, "/2015-03-31/functions")
            #expect(listed.status == .ok)
        }
    }

    @Test func badSignatureIsInvalidSignature() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        try await h.withClient { client in
            let wrongSecret = SigV4Credentials(accessKeyId: ServerHarness.key.accessKeyId, secretAccessKey: "not-the-secret")
            let reply = try await client.signed(.get, "/2015-03-31/functions", credentials: wrongSecret)
            #expect(reply.status == .forbidden)
            #expect(reply.errorType == "InvalidSignatureException")
            #expect((reply.json?["message"] as? String)?.hasPrefix("The request signature we calculated does not match") == true)
            #expect(reply.requestId != nil)
        }
    }

    @Test func unknownKeyIsUnrecognizedClient() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        try await h.withClient { client in
            let stranger = SigV4Credentials(accessKeyId: "AKIDSTRANGER", secretAccessKey: ServerHarness.key.secretAccessKey)
            let reply = try await client.signed(.get, "/2015-03-31/functions", credentials: stranger)
            #expect(reply.status == .forbidden)
            #expect(reply.errorType == "UnrecognizedClientException")
        }
    }

    @Test func staleSignatureHasExpired() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        try await h.withClient { client in
            let reply = try await client.signed(.get, "/2015-03-31/functions", amzDate: SigV4.amzDate(ServerHarness.now.addingTimeInterval(-600)))
            #expect(reply.status == .forbidden)
            #expect(reply.errorType == "InvalidSignatureException")
            #expect((reply.json?["message"] as? String)?.hasPrefix("Signature expired: 20251121T095000Z is now earlier than 20251121T095500Z") == true)
        }
    }

    @Test func percentEncodedARNPathVerifiesAndResolves() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        try await h.withClient { client in
            #expect(try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: try zip("x"))).status == .created)
            // As botocore sends it: the ARN percent-encoded in the path, the qualifier in the query.
            let reply = try await client.signed(
                .get, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ademo/configuration?Qualifier=%24LATEST"
            )
            #expect(reply.status == .ok)
            #expect(reply.json?["FunctionArn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:demo:$LATEST")

            let mismatch = try await client.signed(.get, "/2015-03-31/functions/demo%3A1/configuration?Qualifier=2")
            #expect(mismatch.status == .badRequest)
            #expect(mismatch.errorType == "InvalidParameterValueException")
        }
    }

    @Test func claimedPayloadHashMustMatchTheBody() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        let signedBody = createBody("signed", zip: try zip("x"))
        let sentBody = createBody("swapped", zip: try zip("y"))
        try await h.withClient { client in
            // Signed over `signedBody`, declaring its hash in x-amz-content-sha256 (as S3-style clients do); a
            // different body is sent. The signature covers the declared hash only, so the body must be checked against it.
            let hash = SigV4.sha256Hex(signedBody)
            let base: [(name: String, value: String)] = [("host", "localhost"), ("content-type", "application/json"), ("x-amz-content-sha256", hash)]
            let request = SigV4Request(method: "POST", rawPath: "/2015-03-31/functions", rawQuery: "", headers: base, payloadSHA256Hex: hash)
            let added = SigV4.sign(request, credentials: ServerHarness.key, region: "us-east-1", service: "lambda", amzDate: SigV4.amzDate(ServerHarness.now))
            var headers = HTTPFields()
            for (name, value) in base.dropFirst() + added { headers[try #require(HTTPField.Name(name))] = value }
            let reply = try await client.send(.post, "/2015-03-31/functions", body: sentBody, headers: headers)
            #expect(reply.status.kind == .clientError)
            let swapped = try await client.signed(.get, "/2015-03-31/functions/swapped")
            #expect(swapped.status == .notFound)
        }
    }

    @Test func signedForAnotherRegionOrServiceIsRefused() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            // Even without credentials, the scope must name this server's region and the lambda service.
            let request = SigV4Request(method: "GET", rawPath: "/2015-03-31/functions", rawQuery: "", headers: [("host", "localhost")], payloadSHA256Hex: SigV4.sha256Hex(Data()))
            for (region, service) in [("eu-west-1", "lambda"), ("us-east-1", "s3")] {
                let added = SigV4.sign(request, credentials: ServerHarness.key, region: region, service: service, amzDate: SigV4.amzDate(ServerHarness.now))
                var headers = HTTPFields()
                for (name, value) in added { headers[try #require(HTTPField.Name(name))] = value }
                let reply = try await client.send(.get, "/2015-03-31/functions", headers: headers)
                #expect(reply.status == .forbidden)
                #expect(reply.errorType == "InvalidSignatureException")
            }
        }
    }
}

@Suite("IsolaServer.open")
struct StartupTests {
    @Test func refusesAnUnauthenticatedNonLoopbackServer() async throws {
        let directory = try ServerHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerHarness.configuration(directory)
        configuration.host = "0.0.0.0"
        await #expect(throws: StartupError.self) { _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger) }
        configuration.insecureNoAuth = true
        _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger)
    }

    @Test func refusesACredentialsFileWithoutKeys() async throws {
        let directory = try ServerHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerHarness.configuration(directory)
        let file = directory.appendingPathComponent("credentials")
        try "[default]\nregion = us-east-1\n".write(to: file, atomically: true, encoding: .utf8)
        configuration.credentialsFile = file
        await #expect(throws: StartupError.self) { _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger) }
        configuration.credentialsFile = directory.appendingPathComponent("missing")
        await #expect(throws: StartupError.self) { _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger) }
    }

    @Test func aDataDirectoryKeepsItsAccountAndRegion() async throws {
        let directory = try ServerHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = ServerHarness.configuration(directory)
        _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger)
        configuration.accountId = "111111111111"
        await #expect(throws: StartupError.self) { _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger) }
        configuration.accountId = "000000000000"
        configuration.region = "eu-west-1"
        await #expect(throws: StartupError.self) { _ = try await IsolaServer.open(configuration, logger: ServerHarness.logger) }
    }

    @Test func reopeningKeepsFunctionsAndSweepsOrphans() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("kept")
        try await h.withClient { client in
            let created = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code))
            #expect(created.status == .created)
        }
        let codeDirectory = h.server.configuration.dataDirectory.appendingPathComponent("code")
        let orphan = codeDirectory.appendingPathComponent(String(repeating: "ab", count: 32) + ".zip")
        try Data("orphan".utf8).write(to: orphan)
        try Data("partial".utf8).write(to: codeDirectory.appendingPathComponent(".tmp-crashed"))

        let reopened = try await IsolaServer.open(h.server.configuration, logger: ServerHarness.logger, clock: { ServerHarness.now })
        let names = try FileManager.default.contentsOfDirectory(atPath: codeDirectory.path)
        #expect(names == ["\(CodeStore.digest(of: code).hex).zip"])
        let resolved = try await reopened.controlPlane.resolve(FunctionReference(name: "demo"))
        #expect(resolved.version.configuration.codeSha256 == CodeStore.digest(of: code).base64)
    }
}
