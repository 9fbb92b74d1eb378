import Foundation
import HTTPTypes
import IsolaServer
import Testing

@Suite("Invoke and query parameters over HTTP")
struct InvokeAndQueryTests {
    @Test func listFunctionsPagesWithEncodedMarkers() async throws {
        let h = try await ServerHarness.open(credentials: true)
        defer { h.remove() }
        let code = try zip("x")
        try await h.withClient { client in
            for name in ["c", "a", "b"] {
                let created = try await client.signed(.post, "/2015-03-31/functions", body: createBody(name, zip: code))
                #expect(created.status == .created)
            }
            var names: [String] = []
            var query = "MaxItems=1"
            for _ in 0..<5 {
                let page = try await client.signed(.get, "/2015-03-31/functions?\(query)")
                #expect(page.status == .ok)
                names += (page.json?["Functions"] as? [[String: Any]] ?? []).compactMap { $0["FunctionName"] as? String }
                guard let marker = page.json?["NextMarker"] as? String else { break }
                // As botocore sends it: every reserved character of the marker percent-encoded.
                query = "MaxItems=1&Marker=" + marker.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            }
            #expect(names == ["a", "b", "c"])
        }
    }

    @Test func badQueryParametersAreValidationErrors() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        try await h.withClient { client in
            let notANumber = try await client.signed(.get, "/2015-03-31/functions?MaxItems=ten")
            #expect(notANumber.status == .badRequest)
            #expect(notANumber.errorType == "ValidationException")
            let version = try await client.signed(.get, "/2015-03-31/functions?FunctionVersion=SOME")
            #expect(version.errorType == "ValidationException")
            #expect((version.json?["message"] as? String)?.contains("Member must satisfy enum value set: [ALL]") == true)
            let all = try await client.signed(.get, "/2015-03-31/functions?FunctionVersion=ALL")
            #expect(all.status == .ok)
        }
    }

    @Test func perTenantFunctionsNeedATenantId() async throws {
        let h = try await ServerHarness.open()
        defer { h.remove() }
        let code = try zip("x")
        try await h.withClient { client in
            let created = try await client.signed(
                .post, "/2015-03-31/functions", body: createBody("iso", zip: code, extra: #","TenancyConfig":{"TenantIsolationMode":"PER_TENANT"}"#)
            )
            #expect(created.status == .created)
            #expect(created.json?["TenancyConfig"] as? [String: String] == ["TenantIsolationMode": "PER_TENANT"])
            let plain = try await client.signed(.post, "/2015-03-31/functions", body: createBody("plain", zip: code))
            #expect(plain.status == .created)

            let dryRun = ("X-Amz-Invocation-Type", "DryRun")
            let missing = try await client.signed(.post, "/2015-03-31/functions/iso/invocations", extra: [dryRun])
            #expect(missing.status == .badRequest)
            #expect(missing.errorType == "InvalidParameterValueException")
            #expect(missing.json?["message"] as? String
                == "The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your request and try again.")
            let withTenant = try await client.signed(.post, "/2015-03-31/functions/iso/invocations", extra: [dryRun, ("X-Amz-Tenant-Id", "tenant-1")])
            #expect(withTenant.status == .noContent)

            let unexpected = try await client.signed(.post, "/2015-03-31/functions/plain/invocations", extra: [dryRun, ("X-Amz-Tenant-Id", "tenant-1")])
            #expect(unexpected.errorType == "InvalidParameterValueException")
            #expect(try await client.signed(.post, "/2015-03-31/functions/plain/invocations", extra: [dryRun]).status == .noContent)
            let badTenant = try await client.signed(.post, "/2015-03-31/functions/iso/invocations", extra: [dryRun, ("X-Amz-Tenant-Id", "bad!tenant")])
            #expect(badTenant.errorType == "ValidationException")
        }
    }
}
