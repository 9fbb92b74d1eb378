import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Testing

@Suite("ControlPlane: create, get, update, publish, delete")
struct FunctionLifecycleTests {
    @Test func createThenGet() async throws {
        let h = try Harness()
        defer { h.remove() }
        let code = try zip("def handler(e, c): return 1\n")
        let created = try await h.create("demo", zip: code, ["Tags": ["team": "core"], "TenancyConfig": ["TenantIsolationMode": "PER_TENANT"]])
        let digest = CodeStore.digest(of: code)
        #expect(created.functionName == "demo")
        #expect(created.functionArn == "arn:aws:lambda:us-east-1:123456789012:function:demo")
        #expect(created.version == "$LATEST")
        #expect(created.lastModified == "2025-11-21T10:00:00.000+0000")
        #expect(created.codeSha256 == digest.base64)
        #expect(created.codeSize == code.count)
        #expect(created.tenancyConfig == .perTenant)
        #expect(created.loggingConfig == LoggingConfig(logFormat: "Text", logGroup: "/aws/lambda/demo"))
        #expect(created.runtimeVersionConfig.runtimeVersionArn.hasPrefix("arn:aws:lambda:us-east-1::runtime:"))
        #expect(created.runtimeVersionConfig.runtimeVersionArn.count == "arn:aws:lambda:us-east-1::runtime:".count + 64)
        #expect(h.hasBlob(for: code))

        let got = try await h.plane.getFunction(FunctionReference(name: "demo")) { "https://code/\($0)" }
        #expect(got.configuration == created)
        #expect(got.code.location == "https://code/\(digest.hex)")
        #expect(got.code.repositoryType == "S3")
        #expect(got.tags == ["team": "core"])
        #expect(got.concurrency == nil)

        let qualified = try await h.plane.getFunction(FunctionReference(name: "demo", qualifier: "$LATEST")) { $0 }
        #expect(qualified.configuration.functionArn == h.arn("demo", "$LATEST"))
        #expect(qualified.tags == ["team": "core"], "tags belong to the function, whatever the qualifier")
        let byARN = try await h.plane.resolve(try FunctionReference.parse(h.arn("demo")))
        #expect(byARN.version.configuration == created)
    }

    @Test func duplicateIsAConflictAndLeavesNoBlob() async throws {
        let h = try Harness()
        defer { h.remove() }
        let first = try zip("first")
        try await h.create("demo", zip: first)
        let second = try zip("second")
        let error = await lambdaError { try await h.create("demo", zip: second) }
        #expect(error == LambdaError(.resourceConflict, "Function already exist: demo"))
        #expect(try h.blobs() == ["\(CodeStore.digest(of: first).hex).zip"])
        #expect(try await h.latest("demo").codeSha256 == CodeStore.digest(of: first).base64)
    }

    @Test func badZipIsRefusedBeforeAnythingIsStored() async throws {
        let h = try Harness()
        defer { h.remove() }
        let error = await lambdaError { try await h.create("demo", zip: Data("not a zip".utf8)) }
        #expect(error == LambdaError.cannotUnzip)
        #expect(try h.blobs().isEmpty)
        #expect(await lambdaError { try await h.latest("demo") }?.code == .resourceNotFound)
    }

    @Test func missingFunctionsAreNotFound() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("x"))
        #expect(await lambdaError { try await h.latest("nope") }
            == LambdaError(.resourceNotFound, "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"))
        // Same name, other account or region: not this server's function.
        for arn in ["arn:aws:lambda:us-east-1:999999999999:function:demo", "arn:aws:lambda:eu-west-1:123456789012:function:demo"] {
            #expect(await lambdaError { try await h.plane.resolve(try FunctionReference.parse(arn)) }?.code == .resourceNotFound)
        }
        #expect(await lambdaError { try await h.plane.resolve(FunctionReference(name: "demo", qualifier: "3")) }
            == LambdaError.functionNotFound(h.arn("demo", "3")))
    }

    @Test func publishNumbersVersionsAndSkipsUnchanged() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("v1"))
        let one = try await h.publish("demo")
        #expect(one.version == "1")
        #expect(one.functionArn == h.arn("demo", "1"))
        let again = try await h.publish("demo")
        #expect(again == one)

        _ = try await h.update("demo", #"{"Timeout":10}"#)
        let two = try await h.publish("demo", #"{"Description":"ten seconds"}"#)
        #expect(two.version == "2")
        #expect(two.timeout == 10)
        #expect(two.description == "ten seconds")

        _ = try await h.updateCode("demo", zip: try zip("v3"))
        #expect(try await h.publish("demo").version == "3")

        let listed = try await h.plane.listVersions(FunctionReference(name: "demo"), marker: nil, maxItems: nil)
        #expect(listed.versions.map(\.version) == ["$LATEST", "1", "2", "3"])
        #expect(listed.versions.map(\.functionArn) == ["$LATEST", "1", "2", "3"].map { h.arn("demo", $0) })
        #expect(listed.nextMarker == nil)
        let page = try await h.plane.listVersions(FunctionReference(name: "demo"), marker: nil, maxItems: 3)
        let rest = try await h.plane.listVersions(FunctionReference(name: "demo"), marker: page.nextMarker, maxItems: 3)
        #expect((page.versions + rest.versions).map(\.version) == ["$LATEST", "1", "2", "3"])
        #expect(rest.nextMarker == nil)
    }

    @Test func publishChecksCodeSha256() async throws {
        let h = try Harness()
        defer { h.remove() }
        let created = try await h.create("demo", zip: try zip("v1"))
        let error = await lambdaError { try await h.publish("demo", #"{"CodeSha256":"bm90IGl0"}"#) }
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message.hasPrefix("CodeSHA256 (bm90IGl0) is different from current CodeSHA256 in $LATEST (\(created.codeSha256)).") == true)
        #expect(try await h.publish("demo", #"{"CodeSha256":"\#(created.codeSha256)"}"#).version == "1")
    }

    @Test func createWithPublishMakesVersionOne() async throws {
        let h = try Harness()
        defer { h.remove() }
        let created = try await h.create("demo", zip: try zip("v1"), ["Publish": true])
        #expect(created.version == "1")
        #expect(try await h.latest("demo").version == "$LATEST")
    }

    @Test func revisionIdIsAPrecondition() async throws {
        let h = try Harness()
        defer { h.remove() }
        let created = try await h.create("demo", zip: try zip("v1"))
        #expect(await lambdaError { try await h.update("demo", #"{"Timeout":5,"RevisionId":"stale"}"#) } == LambdaError.revisionMismatch)
        #expect(try await h.latest("demo").timeout == 3)

        h.clock.advance(61.5)
        let updated = try await h.update("demo", #"{"Timeout":5,"RevisionId":"\#(created.revisionId)"}"#)
        #expect(updated.timeout == 5)
        #expect(updated.revisionId != created.revisionId)
        #expect(updated.lastModified == "2025-11-21T10:01:01.500+0000")
        #expect(updated.codeSha256 == created.codeSha256)

        // The old revision is now stale for PublishVersion too.
        #expect(await lambdaError { try await h.publish("demo", #"{"RevisionId":"\#(created.revisionId)"}"#) } == LambdaError.revisionMismatch)
        #expect(try await h.publish("demo", #"{"RevisionId":"\#(updated.revisionId)"}"#).version == "1")
        #expect(LambdaError.revisionMismatch.code.httpStatus == 412)
    }

    @Test func updatesRefuseQualifiersAndTenancyChanges() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("v1"), ["TenancyConfig": ["TenantIsolationMode": "PER_TENANT"]])
        let qualified = await lambdaError {
            try await h.plane.updateConfiguration(FunctionReference(name: "demo", qualifier: "1"), request: try decode(#"{"Timeout":5}"#))
        }
        #expect(qualified?.code == .invalidParameterValue)
        #expect(await lambdaError { try await h.update("demo", #"{"TenancyConfig":{"TenantIsolationMode":"PER_TENANT"}}"#) }?.code == .invalidParameterValue)
        _ = try await h.update("demo", #"{"MemorySize":256}"#)
        #expect(try await h.latest("demo").tenancyConfig == .perTenant)
        #expect(try await h.publish("demo").tenancyConfig == .perTenant)
    }

    @Test func updateCodeReplacesAndCollectsTheOldBlob() async throws {
        let h = try Harness()
        defer { h.remove() }
        let a = try zip("a"), b = try zip("b")
        let created = try await h.create("demo", zip: a)
        let preview = try await h.updateCode("demo", zip: b, #","DryRun":true"#)
        #expect(preview.codeSha256 == CodeStore.digest(of: b).base64)
        #expect(try await h.latest("demo").codeSha256 == created.codeSha256)
        #expect(!h.hasBlob(for: b))

        let stale = await lambdaError { try await h.updateCode("demo", zip: b, #","RevisionId":"stale""#) }
        #expect(stale == LambdaError.revisionMismatch)
        #expect(!h.hasBlob(for: b))

        let updated = try await h.updateCode("demo", zip: b)
        #expect(updated.codeSha256 == CodeStore.digest(of: b).base64)
        #expect(updated.codeSize == b.count)
        #expect(h.hasBlob(for: b))
        #expect(!h.hasBlob(for: a))
    }

    @Test func deletingAVersionCollectsItsUnreferencedCode() async throws {
        let h = try Harness()
        defer { h.remove() }
        let a = try zip("a"), b = try zip("b")
        try await h.create("demo", zip: a)
        #expect(try await h.publish("demo").version == "1")
        _ = try await h.updateCode("demo", zip: b)
        #expect(h.hasBlob(for: a))  // still version 1's code
        #expect(h.hasBlob(for: b))

        try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "1"))
        #expect(!h.hasBlob(for: a))
        #expect(h.hasBlob(for: b))
        #expect(await lambdaError { try await h.plane.resolve(FunctionReference(name: "demo", qualifier: "1")) }?.code == .resourceNotFound)
        // Version numbers are never reused.
        #expect(try await h.publish("demo").version == "2")

        try await h.plane.deleteFunction(FunctionReference(name: "demo"))
        #expect(try h.blobs().isEmpty)
        #expect(await lambdaError { try await h.latest("demo") }?.code == .resourceNotFound)
    }

    @Test func sharedCodeIsKeptWhileReferenced() async throws {
        let h = try Harness()
        defer { h.remove() }
        let shared = try zip("shared")
        try await h.create("one", zip: shared)
        try await h.create("two", zip: shared)
        try await h.plane.deleteFunction(FunctionReference(name: "one"))
        #expect(h.hasBlob(for: shared))
        try await h.plane.deleteFunction(FunctionReference(name: "two"))
        #expect(!h.hasBlob(for: shared))
    }

    @Test func deleteRefusesLatestAndAliasQualifiers() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("a"))
        #expect(await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "$LATEST")) }
            == LambdaError(.invalidParameterValue, "$LATEST version cannot be deleted without deleting the function."))
        #expect(await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "live")) }?.code == .invalidParameterValue)
        #expect(await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "7")) }
            == LambdaError.functionNotFound(h.arn("demo", "7")))
        #expect(await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "ghost")) }
            == LambdaError.functionNotFound(h.arn("ghost")))
        #expect(try await h.latest("demo").version == "$LATEST")
    }

    @Test func sweepRemovesOnlyOrphans() async throws {
        let h = try Harness()
        defer { h.remove() }
        let kept = try zip("kept")
        try await h.create("demo", zip: kept)
        let orphan = try await h.code.put(try zip("orphan"))
        await h.code.release(orphan.digest)
        #expect(try await h.plane.sweepOrphanedCode() == 1)
        #expect(try h.blobs() == ["\(CodeStore.digest(of: kept).hex).zip"])
    }
}
