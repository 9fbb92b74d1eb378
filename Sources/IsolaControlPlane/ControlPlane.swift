import Crypto
import Foundation
import IsolaStore
import LambdaAPI
import Logging

/// The function registry: every control-plane operation as domain logic over the store.
///
/// Each operation validates what it can without the store, then checks and writes inside one store
/// transaction, so a precondition (RevisionId, "already exists", alias references) can never be raced.
/// Errors are `LambdaError`s in AWS's vocabulary; anything else is an internal failure.
public final class ControlPlane: Sendable {
    public let store: any FunctionStore
    public let code: CodeStore
    public let arns: ARNBuilder
    let clock: @Sendable () -> Date
    let logger: Logger
    let resolutions = ResolutionCache()

    public init(store: any FunctionStore, code: CodeStore, arns: ARNBuilder, clock: @escaping @Sendable () -> Date = Date.init, logger: Logger) {
        self.store = store
        self.code = code
        self.arns = arns
        self.clock = clock
        self.logger = logger
    }

    /// Removes blobs that a crash left unreferenced. Call once at start-up, before serving.
    public func sweepOrphanedCode() async throws -> Int {
        let referenced = try await store.read { try $0.referencedCodeDigests() }
        return await code.sweep(keeping: referenced)
    }

    // MARK: - Create, read, list

    public func createFunction(_ request: ValidatedCreate) async throws -> FunctionConfiguration {
        let zip = request.zip
        let summary = try await Blocking.run { try ZipInspector.inspect(zip) }
        let stored = try await code.put(request.zip)
        do {
            let result = try await write { [self] tx in
                if try tx.function(request.name) != nil { throw LambdaError.functionAlreadyExists(request.name) }
                let latest = makeConfiguration(name: request.name, version: "$LATEST", settings: request.settings, tenancy: request.tenancy, code: stored)
                var function = FunctionRecord(name: request.name, tenancy: request.tenancy, tags: request.tags)
                try tx.save(function)
                try tx.save(VersionRecord(functionName: request.name, version: "$LATEST", configuration: latest, codeDigest: stored.digest, unzippedSize: summary.unzippedBytes))
                guard request.publish else { return latest }
                return try publish(tx, function: &function, description: nil)
            }
            await code.release(stored.digest)
            logger.info("function created", metadata: ["function": "\(request.name)", "tenancy": "\(request.tenancy?.tenantIsolationMode ?? "none")"])
            return result
        } catch {
            await code.release(stored.digest)
            await collect([stored.digest])
            throw error
        }
    }

    /// Resolves a reference (name, ARN, `:version` or `:alias`) to the version it designates.
    /// Resolutions are cached (the invoke path asks for one per request); every write through this control plane
    /// clears the cache after it commits, and a read that raced with a write never fills it with what it read.
    public func resolve(_ reference: FunctionReference) async throws -> ResolvedFunction {
        if let cached = resolutions.lookup(reference) { return cached }
        let generation = resolutions.generation
        let resolved = try await store.read { [self] tx in try resolve(tx, reference) }
        resolutions.store(resolved, for: reference, ifGeneration: generation)
        return resolved
    }

    /// Every write of the control plane goes through here, so that cached resolutions never outlive it.
    func write<T: Sendable>(_ body: @escaping @Sendable (any FunctionStoreWriting) throws -> T) async throws -> T {
        defer { resolutions.invalidate() }
        return try await store.write(body)
    }

    public func getFunction(_ reference: FunctionReference, codeLocation: (String) -> String) async throws -> GetFunctionResponse {
        let resolved = try await resolve(reference)
        // Tags belong to the function, whatever the qualifier; AWS leaves the member out when there are none.
        return GetFunctionResponse(
            configuration: resolved.renderedConfiguration(arns: arns),
            code: FunctionCodeLocation(location: codeLocation(resolved.version.codeDigest)),
            tags: resolved.function.tags.isEmpty ? nil : resolved.function.tags,
            concurrency: resolved.function.reservedConcurrency.map { Concurrency(reservedConcurrentExecutions: $0) }
        )
    }

    public func listFunctions(marker: String?, maxItems: Int?, allVersions: Bool) async throws -> ListFunctionsResponse {
        let limit = try Paging.limit(maxItems)
        let position = try Paging.decode(marker)
        return try await store.read { [self] tx in
            if !allVersions {
                let page = try tx.functions(after: position.first, limit: limit + 1)
                var configurations: [FunctionConfiguration] = []
                for function in page.prefix(limit) {
                    if let latest = try tx.version("$LATEST", of: function.name) { configurations.append(latest.configuration) }
                }
                let next = page.count > limit ? page.prefix(limit).last.map { Paging.encode([$0.name]) } : nil
                return ListFunctionsResponse(functions: configurations, nextMarker: next)
            }
            // Every version of every function. The marker names the last (function, version) returned: the
            // rest of that function's versions come first, then the functions after it.
            var items: [(key: [String], configuration: FunctionConfiguration)] = []
            func add(_ function: String, _ versions: [VersionRecord]) {
                for version in versions {
                    var configuration = version.configuration
                    configuration.functionArn = arns.function(function, qualifier: version.version)
                    items.append(([function, version.version], configuration))
                }
            }
            var after: String? = nil
            if position.count == 2 {
                let rest = try tx.versions(of: position[0]).filter { Paging.versionOrder($0.version) > Paging.versionOrder(position[1]) }
                add(position[0], rest)
                after = position[0]
            }
            while items.count <= limit {
                let batch = try tx.functions(after: after, limit: 100)
                for function in batch { add(function.name, try tx.versions(of: function.name)) }
                guard batch.count == 100, let last = batch.last else { break }
                after = last.name
            }
            let page = Array(items.prefix(limit))
            let next = items.count > limit ? page.last.map { Paging.encode($0.key) } : nil
            return ListFunctionsResponse(functions: page.map(\.configuration), nextMarker: next)
        }
    }

    // MARK: - Update

    public func updateCode(_ reference: FunctionReference, request: UpdateFunctionCodeRequest) async throws -> FunctionConfiguration {
        try requireUnqualified(reference, operation: "UpdateFunctionCode")
        if request.s3Bucket != nil || request.s3Key != nil {
            throw LambdaError(.invalidParameterValue, "Code from S3 (S3Bucket/S3Key) is not supported by Isola yet; upload the .zip directly (--zip-file fileb://function.zip).")
        }
        if request.imageUri != nil {
            throw LambdaError(.invalidParameterValue, "Container images (ImageUri) are not supported by Isola yet; upload a .zip (--zip-file fileb://function.zip).")
        }
        if let architectures = request.architectures {
            let violations = Validation.architectureViolations(architectures)
            if !violations.isEmpty { throw LambdaError.validation(violations) }
            try Validation.checkArchitecture(architectures)
        }
        let zip = try Validation.decodeZipFile(request.zipFile)
        let summary = try await Blocking.run { [zip] in try ZipInspector.inspect(zip) }
        if request.dryRun == true {
            let digest = CodeStore.digest(of: zip)
            let current = try await resolve(reference).version.configuration
            var preview = current
            preview.codeSha256 = digest.base64
            preview.codeSize = zip.count
            return preview
        }
        let stored = try await code.put(zip)
        do {
            let (result, replaced) = try await write { [self] tx -> (FunctionConfiguration, String) in
                var (function, latest) = try latestForUpdate(tx, reference, revisionId: request.revisionId)
                let replaced = latest.codeDigest
                latest.configuration.codeSha256 = stored.sha256Base64
                latest.configuration.codeSize = stored.size
                touch(&latest.configuration)
                latest.codeDigest = stored.digest
                latest.unzippedSize = summary.unzippedBytes
                try tx.save(latest)
                guard request.publish == true else { return (latest.configuration, replaced) }
                return (try publish(tx, function: &function, description: nil), replaced)
            }
            await code.release(stored.digest)
            await collect([replaced])
            return result
        } catch {
            await code.release(stored.digest)
            await collect([stored.digest])
            throw error
        }
    }

    public func updateConfiguration(_ reference: FunctionReference, request: UpdateFunctionConfigurationRequest) async throws -> FunctionConfiguration {
        try requireUnqualified(reference, operation: "UpdateFunctionConfiguration")
        return try await write { [self] tx in
            var (_, latest) = try latestForUpdate(tx, reference, revisionId: request.revisionId)
            let settings = try Validation.applyUpdate(request, to: FunctionSettings(latest.configuration))
            var configuration = latest.configuration
            apply(settings, to: &configuration)
            touch(&configuration)
            latest.configuration = configuration
            try tx.save(latest)
            return configuration
        }
    }

    // MARK: - Delete

    public func deleteFunction(_ reference: FunctionReference) async throws {
        let released: Set<String> = try await write { [self] tx in
            guard arns.owns(reference), let function = try tx.function(reference.name) else {
                throw LambdaError.functionNotFound(arns.function(reference.name, qualifier: reference.qualifier))
            }
            guard let qualifier = reference.qualifier else {
                let digests = Set(try tx.versions(of: function.name).map(\.codeDigest))
                try tx.deleteFunction(function.name)
                return digests
            }
            if qualifier == "$LATEST" {
                throw LambdaError(.invalidParameterValue, "$LATEST version cannot be deleted without deleting the function.")
            }
            guard Int(qualifier) != nil else {
                throw LambdaError(.invalidParameterValue, "DeleteFunction deletes a function or one of its versions, not an alias; use DeleteAlias to delete '\(qualifier)'.")
            }
            guard let version = try tx.version(qualifier, of: function.name) else {
                throw LambdaError.functionNotFound(arns.function(function.name, qualifier: qualifier))
            }
            let referencing = try tx.aliases(of: function.name).filter { $0.configuration.references(version: qualifier) }.map(\.configuration.name)
            if !referencing.isEmpty {
                throw LambdaError(
                    .resourceConflict,
                    "Unable to delete version because the following aliases reference it: [\(referencing.joined(separator: ", "))]. Point them at another version first (aws lambda update-alias)."
                )
            }
            try tx.deleteVersion(qualifier, of: function.name)
            return [version.codeDigest]
        }
        await collect(released)
        logger.info("function deleted", metadata: ["function": "\(reference.name)", "qualifier": "\(reference.qualifier ?? "")"])
    }

    // MARK: - Shared pieces

    func collect(_ digests: Set<String>) async {
        let store = self.store
        await code.collect(digests) { digest in try await store.read { try $0.isCodeReferenced(digest) } }
    }

    func resolve(_ tx: any FunctionStoreReading, _ reference: FunctionReference) throws -> ResolvedFunction {
        let notFound = LambdaError.functionNotFound(arns.function(reference.name, qualifier: reference.qualifier))
        guard arns.owns(reference), let function = try tx.function(reference.name) else { throw notFound }
        let qualifier = reference.qualifier ?? "$LATEST"
        if qualifier == "$LATEST" || Int(qualifier) != nil {
            guard let version = try tx.version(qualifier, of: function.name) else { throw notFound }
            return ResolvedFunction(function: function, version: version, alias: nil, qualifier: reference.qualifier)
        }
        guard let alias = try tx.alias(qualifier, of: function.name), let version = try tx.version(alias.configuration.functionVersion, of: function.name) else {
            throw notFound
        }
        return ResolvedFunction(function: function, version: version, alias: alias, qualifier: reference.qualifier)
    }

    func latestForUpdate(_ tx: any FunctionStoreReading, _ reference: FunctionReference, revisionId: String?) throws -> (FunctionRecord, VersionRecord) {
        let resolved = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region))
        if let revisionId, revisionId != resolved.version.configuration.revisionId { throw LambdaError.revisionMismatch }
        return (resolved.function, resolved.version)
    }

    func requireUnqualified(_ reference: FunctionReference, operation: String) throws {
        if let qualifier = reference.qualifier, qualifier != "$LATEST" {
            throw LambdaError(.invalidParameterValue, "\(operation) changes $LATEST only; remove the qualifier ':\(qualifier)' from the function name.")
        }
    }

    func makeConfiguration(name: String, version: String, settings: FunctionSettings, tenancy: TenancyConfig?, code: StoredCode) -> FunctionConfiguration {
        var configuration = FunctionConfiguration(
            functionName: name, functionArn: arns.function(name), runtime: settings.runtime, role: settings.role,
            handler: settings.handler, codeSize: code.size, description: settings.description, timeout: settings.timeout,
            memorySize: settings.memorySize, lastModified: LambdaTimestamp.string(from: clock()), codeSha256: code.sha256Base64,
            version: version, environment: nil, tracingConfig: TracingConfig(mode: settings.tracingMode), revisionId: UUID().uuidString.lowercased(),
            architectures: [settings.architecture], ephemeralStorage: EphemeralStorage(size: settings.ephemeralStorageMB),
            runtimeVersionConfig: RuntimeVersionConfig(runtimeVersionArn: ""), loggingConfig: settings.loggingConfig(functionName: name),
            tenancyConfig: tenancy
        )
        apply(settings, to: &configuration)
        return configuration
    }

    func apply(_ settings: FunctionSettings, to configuration: inout FunctionConfiguration) {
        configuration.runtime = settings.runtime
        configuration.role = settings.role
        configuration.handler = settings.handler
        configuration.description = settings.description
        configuration.timeout = settings.timeout
        configuration.memorySize = settings.memorySize
        configuration.environment = settings.environment.map { EnvironmentVariables(variables: $0) }
        configuration.tracingConfig = TracingConfig(mode: settings.tracingMode)
        configuration.architectures = [settings.architecture]
        configuration.ephemeralStorage = EphemeralStorage(size: settings.ephemeralStorageMB)
        configuration.loggingConfig = settings.loggingConfig(functionName: configuration.functionName)
        configuration.runtimeVersionConfig = RuntimeVersionConfig(runtimeVersionArn: arns.runtimeVersion(Self.runtimeDigest(settings.runtime)))
    }

    /// A new revision: every change to a version's configuration or code gets one, with the time of the change.
    func touch(_ configuration: inout FunctionConfiguration) {
        configuration.revisionId = UUID().uuidString.lowercased()
        configuration.lastModified = LambdaTimestamp.string(from: clock())
    }

    /// Stable per runtime and Isola release, like AWS's runtime version ARNs.
    static func runtimeDigest(_ runtime: String) -> String {
        SHA256.hash(data: Data("isola-runtime:\(runtime)".utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A reference resolved to its function, the version it runs and the alias it went through.
public struct ResolvedFunction: Sendable, Equatable {
    public var function: FunctionRecord
    public var version: VersionRecord
    public var alias: AliasRecord?
    /// The qualifier the caller used, if any.
    public var qualifier: String?

    /// The configuration as AWS renders it for this reference: `$LATEST` asked for by name gets its qualified ARN.
    public func renderedConfiguration(arns: ARNBuilder) -> FunctionConfiguration {
        var configuration = version.configuration
        if qualifier == "$LATEST" { configuration.functionArn = arns.function(function.name, qualifier: "$LATEST") }
        return configuration
    }
}

extension AliasConfiguration {
    func references(version: String) -> Bool {
        functionVersion == version || routingConfig?.additionalVersionWeights?[version] != nil
    }
}

/// Opaque list markers: base64 of the position, so callers cannot depend on their form.
enum Paging {
    static func limit(_ maxItems: Int?) throws -> Int {
        guard let maxItems else { return Limits.defaultListPageSize }
        guard (1...Limits.maxListPageSize).contains(maxItems) else {
            throw LambdaError.validation([
                ConstraintViolation(value: "\(maxItems)", field: "maxItems", constraint: maxItems < 1 ? "Member must have value greater than or equal to 1" : "Member must have value less than or equal to \(Limits.maxListPageSize)")
            ])
        }
        return maxItems
    }

    /// `$LATEST` first, then versions by number: the order markers are positions in.
    static func versionOrder(_ version: String) -> Int {
        version == "$LATEST" ? 0 : (Int(version) ?? Int.max)
    }

    static func encode(_ key: [String]) -> String {
        Data(key.joined(separator: "\u{0}").utf8).base64EncodedString()
    }

    static func decode(_ marker: String?) throws -> [String] {
        guard let marker, !marker.isEmpty else { return [] }
        guard let data = Data(base64Encoded: marker), let text = String(data: data, encoding: .utf8), !text.isEmpty else {
            throw LambdaError(.invalidParameterValue, "Invalid Marker '\(marker)': pass the NextMarker of a previous response unchanged.")
        }
        return text.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
    }
}

/// Resolved references, valid until the next write. (One process owns the store today; a shared store for
/// scale-out will need the store to announce writes instead.)
final class ResolutionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [FunctionReference: ResolvedFunction] = [:]
    private var currentGeneration = 0
    /// Bounded: a flood of distinct references cannot grow it without end.
    static let capacity = 10_000

    var generation: Int { lock.withLock { currentGeneration } }

    func lookup(_ reference: FunctionReference) -> ResolvedFunction? {
        lock.withLock { entries[reference] }
    }

    func store(_ resolved: ResolvedFunction, for reference: FunctionReference, ifGeneration generation: Int) {
        lock.withLock {
            guard generation == currentGeneration else { return }
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[reference] = resolved
        }
    }

    func invalidate() {
        lock.withLock {
            currentGeneration += 1
            entries.removeAll(keepingCapacity: true)
        }
    }
}
