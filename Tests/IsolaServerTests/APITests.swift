import AWSSigV4
import Foundation
import HTTPTypes
import IsolaServer
import IsolaStore
import Testing

@Suite("Lambda API over HTTP")
struct APITests {
    @Test func healthIsOpenAndJSON() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            let reply = try await client.send(.get, "/health")
            #expect(reply.status == .ok)
            #expect(reply.header("Content-Type") == "application/json")
            #expect(reply.json?["status"] as? String == "ok")
            #expect(reply.json?["region"] as? String == "us-east-1")
            #expect(reply.json?["accountId"] as? String == "000000000000")
            #expect(reply.json?["auth"] as? String == "sigv4-unverified (loopback only)")
            #expect(reply.requestId?.isEmpty == false)
        }
    }

    @Test func unsignedRequestsAreRefused() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            for (method, uri) in [(HTTPRequest.Method.get, "/2015-03-31/functions"), (.get, "/2015-03-31/functions/demo"), (.get, "/no/such/path")] {
                let reply = try await client.send(method, uri)
                #expect(reply.status == .forbidden)
                #expect(reply.errorType == "MissingAuthenticationTokenException")
                #expect(reply.json as? [String: String] == ["Type": "User", "message": "Missing Authentication Token"])
            }
        }
    }

    @Test func createGetAndList() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("def handler(event, context):\n    return event\n")
        try await h.withClient { client in
            let created = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code, extra: #","Tags":{"team":"core"}"#))
            #expect(created.status == .created)
            #expect(created.header("Content-Type") == "application/json")
            #expect(created.json?["FunctionName"] as? String == "demo")
            #expect(created.json?["FunctionArn"] as? String == "arn:aws:lambda:us-east-1:000000000000:function:demo")
            #expect(created.json?["Version"] as? String == "$LATEST")
            #expect(created.json?["CodeSize"] as? Int == code.count)
            #expect(created.json?["CodeSha256"] as? String == CodeStore.digest(of: code).base64)
            #expect(created.json?["LastModified"] as? String == "2025-11-21T10:00:00.000+0000")
            #expect(created.json?["State"] as? String == "Active")
            #expect(created.json?["TenancyConfig"] == nil)

            let got = try await client.signed(.get, "/2015-03-31/functions/demo")
            #expect(got.status == .ok)
            let configuration = try #require(got.json?["Configuration"] as? [String: Any])
            #expect(configuration["RevisionId"] as? String == created.json?["RevisionId"] as? String)
            #expect(got.json?["Tags"] as? [String: String] == ["team": "core"])
            let location = try #require(got.json?["Code"] as? [String: String])
            #expect(location["RepositoryType"] == "S3")
            #expect(location["Location"]?.hasPrefix("http://localhost/isola/v1/code/\(CodeStore.digest(of: code).hex)?expires=") == true)

            let listed = try await client.signed(.get, "/2015-03-31/functions?MaxItems=10")
            #expect(listed.status == .ok)
            #expect((listed.json?["Functions"] as? [[String: Any]])?.map { $0["FunctionName"] as? String } == ["demo"])
        }
    }

    @Test func codeLocationDownloadsThePackage() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("print('download me')\n")
        try await h.withClient { client in
            #expect(try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code)).status == .created)
            let got = try await client.signed(.get, "/2015-03-31/functions/demo")
            let location = try #require((got.json?["Code"] as? [String: String])?["Location"])
            let digest = CodeStore.digest(of: code).hex
            #expect(location.hasPrefix("http://localhost/isola/v1/code/\(digest)?expires="))
            let path = String(location.dropFirst("http://localhost".count))

            let download = try await client.send(.get, path)  // unsigned: the URL carries its own signature
            #expect(download.status == .ok)
            #expect(download.header("Content-Type") == "application/zip")
            #expect(download.body == code)

            let tampered = try await client.send(.get, String(path.dropLast()) + (path.hasSuffix("0") ? "1" : "0"))
            #expect(tampered.status == .forbidden)
            #expect(tampered.errorType == "InvalidSignatureException")
        }
    }

    @Test func missingFunctionIs404WithCapitalMessage() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            let reply = try await client.signed(.get, "/2015-03-31/functions/nope")
            #expect(reply.status == .notFound)
            #expect(reply.errorType == "ResourceNotFoundException")
            #expect(reply.json as? [String: String] == ["Type": "User", "Message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"])
        }
    }

    @Test func malformedJSONIsInvalidRequestContent() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            let reply = try await client.signed(.post, "/2015-03-31/functions", body: Data("{not json".utf8))
            #expect(reply.status == .badRequest)
            #expect(reply.errorType == "InvalidRequestContentException")
            #expect(reply.json as? [String: String] == ["Type": "User", "message": "Could not parse request body into json: The body is not valid JSON."])

            let wrongType = try await client.signed(.post, "/2015-03-31/functions", body: Data(#"{"FunctionName":"demo","Timeout":"ten"}"#.utf8))
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.errorType == "InvalidRequestContentException")
            #expect((wrongType.json?["message"] as? String)?.contains("'Timeout'") == true)
        }
    }

    @Test func validationErrorsKeepAWSText() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("x")
        try await h.withClient { client in
            let reply = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code, extra: #","Timeout":0"#))
            #expect(reply.status == .badRequest)
            #expect(reply.errorType == "ValidationException")
            #expect(reply.json?["message"] as? String
                == "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1")
            let duplicate = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code))
            #expect(duplicate.status == .created)
            let again = try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code))
            #expect(again.status == .conflict)
            #expect(again.errorType == "ResourceConflictException")
        }
    }

    @Test func unknownPathsAndMethodsAreUnknownOperations() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            let path = try await client.signed(.get, "/2015-03-31/no-such-thing")
            #expect(path.status == .notFound)
            #expect(path.errorType == "UnknownOperationException")
            #expect((path.json?["message"] as? String)?.hasPrefix("No Lambda API operation is served at /2015-03-31/no-such-thing.") == true)
            let method = try await client.signed(.patch, "/2015-03-31/functions")
            #expect(method.status == .notFound)
            #expect(method.errorType == "UnknownOperationException")
        }
    }

    @Test func everyResponseCarriesARequestId() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("x")
        try await h.withClient { client in
            let replies = [
                try await client.send(.get, "/health"),
                try await client.send(.get, "/2015-03-31/functions"),
                try await client.signed(.post, "/2015-03-31/functions", body: createBody("demo", zip: code)),
                try await client.signed(.get, "/2015-03-31/functions/demo"),
                try await client.signed(.get, "/2015-03-31/functions/nope"),
                try await client.signed(.post, "/2015-03-31/functions", body: Data("[".utf8)),
                try await client.signed(.delete, "/2015-03-31/functions/demo"),
                try await client.signed(.get, "/nowhere"),
            ]
            #expect(replies.map(\.status.code) == [200, 403, 201, 200, 404, 400, 204, 404])
            let ids = replies.compactMap(\.requestId)
            #expect(ids.count == replies.count)
            #expect(Set(ids).count == ids.count)
            #expect(ids.allSatisfy { UUID(uuidString: $0) != nil })
        }
    }
}
