import Foundation
import LambdaAPI

/// A function: what is shared by all its versions.
public struct FunctionRecord: Sendable, Equatable {
    public var name: String
    /// Set at creation, never changed: `PER_TENANT` or nil.
    public var tenancy: TenancyConfig?
    public var tags: [String: String]
    public var reservedConcurrency: Int?
    /// The highest version number ever published; numbers are never reused, as on AWS.
    public var lastPublishedVersion: Int

    public init(name: String, tenancy: TenancyConfig?, tags: [String: String], reservedConcurrency: Int? = nil, lastPublishedVersion: Int = 0) {
        self.name = name
        self.tenancy = tenancy
        self.tags = tags
        self.reservedConcurrency = reservedConcurrency
        self.lastPublishedVersion = lastPublishedVersion
    }
}

/// One version (`$LATEST` or a published number) with the code it runs.
public struct VersionRecord: Sendable, Equatable {
    public var functionName: String
    public var version: String
    public var configuration: FunctionConfiguration
    /// Hex SHA-256 of the zip: the key of its blob in the `CodeStore`.
    public var codeDigest: String
    public var unzippedSize: Int

    public init(functionName: String, version: String, configuration: FunctionConfiguration, codeDigest: String, unzippedSize: Int) {
        self.functionName = functionName
        self.version = version
        self.configuration = configuration
        self.codeDigest = codeDigest
        self.unzippedSize = unzippedSize
    }
}

public struct AliasRecord: Sendable, Equatable {
    public var functionName: String
    public var configuration: AliasConfiguration

    public init(functionName: String, configuration: AliasConfiguration) {
        self.functionName = functionName
        self.configuration = configuration
    }
}

/// How asynchronous invocations of one function version or alias are retried (PutFunctionEventInvokeConfig).
public struct EventInvokeConfigRecord: Sendable, Equatable {
    public var functionName: String
    /// `$LATEST`, a version number or an alias name.
    public var qualifier: String
    /// nil: Lambda's default, 2.
    public var maximumRetryAttempts: Int?
    /// nil: Lambda's default, 21,600 (6 hours).
    public var maximumEventAgeInSeconds: Int?
    public var lastModified: Date

    public init(functionName: String, qualifier: String, maximumRetryAttempts: Int?, maximumEventAgeInSeconds: Int?, lastModified: Date) {
        self.functionName = functionName
        self.qualifier = qualifier
        self.maximumRetryAttempts = maximumRetryAttempts
        self.maximumEventAgeInSeconds = maximumEventAgeInSeconds
        self.lastModified = lastModified
    }
}

public struct StoreTotals: Sendable, Equatable {
    public var functionCount: Int
    public var totalCodeSize: Int
    public var reservedConcurrency: Int
}

/// Reads inside one consistent snapshot.
public protocol FunctionStoreReading {
    func function(_ name: String) throws -> FunctionRecord?
    /// Functions ordered by name, strictly after `marker` when given.
    func functions(after marker: String?, limit: Int) throws -> [FunctionRecord]
    func version(_ version: String, of function: String) throws -> VersionRecord?
    /// `$LATEST` first, then published versions in ascending order.
    func versions(of function: String) throws -> [VersionRecord]
    func alias(_ name: String, of function: String) throws -> AliasRecord?
    /// Ordered by name.
    func aliases(of function: String) throws -> [AliasRecord]
    func totals() throws -> StoreTotals
    func isCodeReferenced(_ digest: String) throws -> Bool
    func referencedCodeDigests() throws -> Set<String>
    func eventInvokeConfig(_ qualifier: String, of function: String) throws -> EventInvokeConfigRecord?
    /// Ordered by qualifier.
    func eventInvokeConfigs(of function: String) throws -> [EventInvokeConfigRecord]
}

/// Writes inside one transaction: all of them commit, or none.
public protocol FunctionStoreWriting: FunctionStoreReading {
    func save(_ function: FunctionRecord) throws
    func save(_ version: VersionRecord) throws
    func save(_ alias: AliasRecord) throws
    /// Deletes the function with its versions and aliases.
    func deleteFunction(_ name: String) throws
    func deleteVersion(_ version: String, of function: String) throws
    func deleteAlias(_ name: String, of function: String) throws
    func save(_ config: EventInvokeConfigRecord) throws
    func deleteEventInvokeConfig(_ qualifier: String, of function: String) throws
}

/// The metadata store behind a small protocol, so that SQLite (the default) and a shared database for
/// scale-out can both sit behind it. Transaction bodies are synchronous and may throw `LambdaError` to abort.
public protocol FunctionStore: Sendable {
    func read<T: Sendable>(_ body: @escaping @Sendable (any FunctionStoreReading) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (any FunctionStoreWriting) throws -> T) async throws -> T
}
