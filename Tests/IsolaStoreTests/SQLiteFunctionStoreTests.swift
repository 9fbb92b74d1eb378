import Foundation
import IsolaStore
import LambdaAPI
import Testing

func configuration(_ name: String, version: String = "$LATEST", codeSize: Int = 100, timeout: Int = 3) -> FunctionConfiguration {
    FunctionConfiguration(
        functionName: name, functionArn: "arn:aws:lambda:us-east-1:000000000000:function:\(name)", runtime: "python3.12",
        role: "arn:aws:iam::000000000000:role/r", handler: "app.handler", codeSize: codeSize, description: "", timeout: timeout,
        memorySize: 128, lastModified: "2025-11-21T10:00:00.000+0000", codeSha256: "sha=", version: version, environment: nil,
        tracingConfig: TracingConfig(mode: "PassThrough"), revisionId: UUID().uuidString, architectures: ["x86_64"],
        ephemeralStorage: EphemeralStorage(size: 512), runtimeVersionConfig: RuntimeVersionConfig(runtimeVersionArn: ""),
        loggingConfig: LoggingConfig(logFormat: "Text", logGroup: "/aws/lambda/\(name)"), tenancyConfig: nil
    )
}

func version(_ name: String, _ version: String, digest: String = "d1", codeSize: Int = 100) -> VersionRecord {
    VersionRecord(functionName: name, version: version, configuration: configuration(name, version: version, codeSize: codeSize), codeDigest: digest, unzippedSize: 1000)
}

func alias(_ function: String, _ name: String, to version: String) -> AliasRecord {
    AliasRecord(functionName: function, configuration: AliasConfiguration(
        aliasArn: "arn:aws:lambda:us-east-1:000000000000:function:\(function):\(name)", name: name, functionVersion: version,
        description: "", routingConfig: nil, revisionId: "r"
    ))
}

@Suite("SQLiteFunctionStore")
struct SQLiteFunctionStoreTests {
    /// A store in a fresh directory; `body` gets it and the database path.
    func withStore(_ body: (SQLiteFunctionStore, String) async throws -> Void) async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let path = temp.url.appendingPathComponent("isola.sqlite").path
        try await body(try SQLiteFunctionStore(path: path), path)
    }

    @Test func savesAndReadsAFunctionWithItsVersion() async throws {
        try await withStore { store, _ in
            let record = FunctionRecord(name: "demo", tenancy: .perTenant, tags: ["team": "core"], reservedConcurrency: 5, lastPublishedVersion: 0)
            let latest = version("demo", "$LATEST")
            try await store.write { tx in
                try tx.save(record)
                try tx.save(latest)
            }
            let (function, stored, missing) = try await store.read { tx in
                (try tx.function("demo"), try tx.version("$LATEST", of: "demo"), try tx.function("other"))
            }
            #expect(function == record)
            #expect(stored == latest)
            #expect(missing == nil)
        }
    }

    @Test func versionsAreLatestFirstThenNumeric() async throws {
        try await withStore { store, _ in
            try await store.write { tx in
                try tx.save(FunctionRecord(name: "demo", tenancy: nil, tags: [:], lastPublishedVersion: 10))
                for v in ["10", "2", "$LATEST", "1"] { try tx.save(version("demo", v)) }
            }
            let versions = try await store.read { try $0.versions(of: "demo").map(\.version) }
            #expect(versions == ["$LATEST", "1", "2", "10"])
        }
    }

    @Test func deletingAFunctionCascades() async throws {
        try await withStore { store, _ in
            try await store.write { tx in
                try tx.save(FunctionRecord(name: "demo", tenancy: nil, tags: [:]))
                try tx.save(FunctionRecord(name: "keep", tenancy: nil, tags: [:]))
                try tx.save(version("demo", "$LATEST", digest: "gone"))
                try tx.save(version("demo", "1", digest: "gone"))
                try tx.save(alias("demo", "live", to: "1"))
                try tx.save(version("keep", "$LATEST", digest: "kept"))
                try tx.save(alias("keep", "live", to: "$LATEST"))
            }
            try await store.write { try $0.deleteFunction("demo") }
            let state = try await store.read { tx in
                (try tx.function("demo"), try tx.versions(of: "demo"), try tx.aliases(of: "demo"), try tx.isCodeReferenced("gone"),
                 try tx.referencedCodeDigests(), try tx.aliases(of: "keep").map(\.configuration.name))
            }
            #expect(state.0 == nil)
            #expect(state.1.isEmpty)
            #expect(state.2.isEmpty)
            #expect(state.3 == false)
            #expect(state.4 == ["kept"])
            #expect(state.5 == ["live"])
        }
    }

    @Test func deleteVersionAndAlias() async throws {
        try await withStore { store, _ in
            try await store.write { tx in
                try tx.save(FunctionRecord(name: "demo", tenancy: nil, tags: [:]))
                try tx.save(version("demo", "$LATEST", digest: "a"))
                try tx.save(version("demo", "1", digest: "b"))
                try tx.save(alias("demo", "beta", to: "1"))
                try tx.save(alias("demo", "alpha", to: "$LATEST"))
            }
            #expect(try await store.read { try $0.aliases(of: "demo").map(\.configuration.name) } == ["alpha", "beta"])
            try await store.write { tx in
                try tx.deleteVersion("1", of: "demo")
                try tx.deleteAlias("beta", of: "demo")
            }
            let (versions, aliases, referenced) = try await store.read { tx in
                (try tx.versions(of: "demo").map(\.version), try tx.aliases(of: "demo").map(\.configuration.name), try tx.isCodeReferenced("b"))
            }
            #expect(versions == ["$LATEST"])
            #expect(aliases == ["alpha"])
            #expect(!referenced)
        }
    }

    @Test func functionsArePagedByName() async throws {
        try await withStore { store, _ in
            try await store.write { tx in
                for name in ["charlie", "alpha", "echo", "bravo", "delta"] { try tx.save(FunctionRecord(name: name, tenancy: nil, tags: [:])) }
            }
            let pages = try await store.read { tx in
                [try tx.functions(after: nil, limit: 2), try tx.functions(after: "bravo", limit: 2), try tx.functions(after: "delta", limit: 2),
                 try tx.functions(after: "echo", limit: 2), try tx.functions(after: "b", limit: 1)].map { $0.map(\.name) }
            }
            #expect(pages == [["alpha", "bravo"], ["charlie", "delta"], ["echo"], [], ["bravo"]])
        }
    }

    @Test func totals() async throws {
        try await withStore { store, _ in
            let empty = try await store.read { try $0.totals() }
            #expect(empty.functionCount == 0)
            #expect(empty.totalCodeSize == 0)
            #expect(empty.reservedConcurrency == 0)
            try await store.write { tx in
                try tx.save(FunctionRecord(name: "a", tenancy: nil, tags: [:], reservedConcurrency: 10))
                try tx.save(FunctionRecord(name: "b", tenancy: nil, tags: [:], reservedConcurrency: nil))
                try tx.save(FunctionRecord(name: "c", tenancy: nil, tags: [:], reservedConcurrency: 5))
                try tx.save(version("a", "$LATEST", codeSize: 100))
                try tx.save(version("a", "1", codeSize: 100))
                try tx.save(version("b", "$LATEST", codeSize: 250))
            }
            let totals = try await store.read { try $0.totals() }
            #expect(totals.functionCount == 3)
            #expect(totals.totalCodeSize == 450)
            #expect(totals.reservedConcurrency == 15)
        }
    }

    @Test func dataSurvivesReopening() async throws {
        try await withStore { store, path in
            try await store.write { tx in
                try tx.save(FunctionRecord(name: "demo", tenancy: .perTenant, tags: ["k": "v"], lastPublishedVersion: 3))
                try tx.save(version("demo", "$LATEST"))
                try tx.save(alias("demo", "live", to: "$LATEST"))
            }
            #expect(try await store.pinMeta("region", proposed: "us-east-1") == "us-east-1")
            let reopened = try SQLiteFunctionStore(path: path)
            let (function, latest, live) = try await reopened.read { tx in
                (try tx.function("demo"), try tx.version("$LATEST", of: "demo"), try tx.alias("live", of: "demo"))
            }
            #expect(function == FunctionRecord(name: "demo", tenancy: .perTenant, tags: ["k": "v"], lastPublishedVersion: 3))
            #expect(latest?.configuration.functionName == "demo")
            #expect(live?.configuration.functionVersion == "$LATEST")
            // A pinned value is kept: a later proposal gets the first one back.
            #expect(try await reopened.pinMeta("region", proposed: "eu-west-1") == "us-east-1")
        }
    }

    @Test func tenancyIsFixedAtCreation() async throws {
        try await withStore { store, _ in
            try await store.write { try $0.save(FunctionRecord(name: "iso", tenancy: .perTenant, tags: [:])) }
            try await store.write { try $0.save(FunctionRecord(name: "iso", tenancy: nil, tags: ["new": "tag"], reservedConcurrency: 7, lastPublishedVersion: 2)) }
            try await store.write { try $0.save(FunctionRecord(name: "plain", tenancy: nil, tags: [:])) }
            try await store.write { try $0.save(FunctionRecord(name: "plain", tenancy: .perTenant, tags: [:])) }
            let (iso, plain) = try await store.read { tx in (try tx.function("iso"), try tx.function("plain")) }
            #expect(iso == FunctionRecord(name: "iso", tenancy: .perTenant, tags: ["new": "tag"], reservedConcurrency: 7, lastPublishedVersion: 2))
            #expect(plain?.tenancy == nil)
        }
    }

    @Test func aFailedWriteLeavesNothingBehind() async throws {
        try await withStore { store, _ in
            await #expect(throws: LambdaError.self) {
                try await store.write { tx in
                    try tx.save(FunctionRecord(name: "half", tenancy: nil, tags: [:]))
                    try tx.save(version("half", "$LATEST"))
                    throw LambdaError.functionAlreadyExists("half")
                }
            }
            let (function, versions) = try await store.read { tx in (try tx.function("half"), try tx.versions(of: "half")) }
            #expect(function == nil)
            #expect(versions.isEmpty)
        }
    }

    @Test func aVersionNeedsItsFunction() async throws {
        try await withStore { store, _ in
            // The foreign key refuses an orphan version.
            await #expect(throws: (any Error).self) {
                try await store.write { try $0.save(version("ghost", "$LATEST")) }
            }
            let versions = try await store.read { try $0.versions(of: "ghost") }
            #expect(versions.isEmpty)
        }
    }
}
