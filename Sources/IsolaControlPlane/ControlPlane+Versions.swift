import Foundation
import IsolaStore
import LambdaAPI
import Logging

/// PublishVersion, ListVersionsByFunction and aliases.
extension ControlPlane {
    public func publishVersion(_ reference: FunctionReference, request: PublishVersionRequest) async throws -> FunctionConfiguration {
        try requireUnqualified(reference, operation: "PublishVersion")
        if let description = request.description, description.count > Limits.maxDescriptionLength {
            throw LambdaError.validation([ConstraintViolation(value: description, field: "description", constraint: "Member must have length less than or equal to \(Limits.maxDescriptionLength)")])
        }
        return try await write { [self] tx in
            var (function, latest) = try latestForUpdate(tx, reference, revisionId: request.revisionId)
            if let expected = request.codeSha256, expected != latest.configuration.codeSha256 {
                throw LambdaError(
                    .invalidParameterValue,
                    "CodeSHA256 (\(expected)) is different from current CodeSHA256 in $LATEST (\(latest.configuration.codeSha256)). Please try again from the CodeSHA256 in $LATEST."
                )
            }
            return try publish(tx, function: &function, description: request.description)
        }
    }

    /// Publishes `$LATEST` as the next version, or returns the last version when `$LATEST` has not changed since.
    func publish(_ tx: any FunctionStoreWriting, function: inout FunctionRecord, description: String?) throws -> FunctionConfiguration {
        guard let latest = try tx.version("$LATEST", of: function.name) else {
            throw LambdaError.functionNotFound(arns.function(function.name))
        }
        if function.lastPublishedVersion > 0,
            let last = try tx.versions(of: function.name).last(where: { $0.version != "$LATEST" }),
            last.codeDigest == latest.codeDigest, last.configuration.isPublishEquivalent(to: latest.configuration)
        {
            return last.configuration
        }
        function.lastPublishedVersion += 1
        let number = String(function.lastPublishedVersion)
        var configuration = latest.configuration
        configuration.version = number
        configuration.functionArn = arns.function(function.name, qualifier: number)
        if let description { configuration.description = description }
        touch(&configuration)
        try tx.save(function)
        try tx.save(VersionRecord(functionName: function.name, version: number, configuration: configuration, codeDigest: latest.codeDigest, unzippedSize: latest.unzippedSize))
        logger.info("version published", metadata: ["function": "\(function.name)", "version": "\(number)"])
        return configuration
    }

    public func listVersions(_ reference: FunctionReference, marker: String?, maxItems: Int?) async throws -> ListVersionsResponse {
        let limit = try Paging.limit(maxItems)
        let position = try Paging.decode(marker)
        return try await store.read { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            var versions = try tx.versions(of: function.name)
            // By position, not by finding the marker's version: it may have been deleted since.
            if let last = position.first {
                versions = versions.filter { Paging.versionOrder($0.version) > Paging.versionOrder(last) }
            }
            let page = versions.prefix(limit).map { record -> FunctionConfiguration in
                var configuration = record.configuration
                configuration.functionArn = arns.function(function.name, qualifier: record.version)
                return configuration
            }
            let next = versions.count > limit ? page.last.map { Paging.encode([$0.version]) } : nil
            return ListVersionsResponse(versions: page, nextMarker: next)
        }
    }

    // MARK: - Aliases

    public func createAlias(_ reference: FunctionReference, request: AliasRequest) async throws -> AliasConfiguration {
        try requireUnqualified(reference, operation: "CreateAlias")
        guard let name = request.name else { throw LambdaError.validation([ConstraintViolation(value: "null", field: "name", constraint: "Member must not be null")]) }
        guard let version = request.functionVersion else {
            throw LambdaError.validation([ConstraintViolation(value: "null", field: "functionVersion", constraint: "Member must not be null")])
        }
        try Validation.checkAliasName(name)
        try checkAliasDescription(request.description)
        return try await write { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            try checkAliasTargets(tx, function: function.name, version: version, routing: request.routingConfig)
            let arn = arns.function(function.name, qualifier: name)
            if try tx.alias(name, of: function.name) != nil { throw LambdaError.aliasAlreadyExists(arn) }
            let alias = AliasConfiguration(
                aliasArn: arn, name: name, functionVersion: version, description: request.description ?? "",
                routingConfig: normalized(request.routingConfig), revisionId: UUID().uuidString.lowercased()
            )
            try tx.save(AliasRecord(functionName: function.name, configuration: alias))
            return alias
        }
    }

    public func getAlias(_ reference: FunctionReference, name: String) async throws -> AliasConfiguration {
        try Validation.checkAliasName(name)
        return try await store.read { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            guard let alias = try tx.alias(name, of: function.name) else {
                throw LambdaError.aliasNotFound(arns.function(function.name, qualifier: name))
            }
            return alias.configuration
        }
    }

    public func listAliases(_ reference: FunctionReference, functionVersion: String?, marker: String?, maxItems: Int?) async throws -> ListAliasesResponse {
        let limit = try Paging.limit(maxItems)
        let position = try Paging.decode(marker)
        return try await store.read { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            var aliases = try tx.aliases(of: function.name).map(\.configuration)
            if let functionVersion { aliases = aliases.filter { $0.functionVersion == functionVersion } }
            if let last = position.first { aliases = aliases.filter { $0.name > last } }
            let page = Array(aliases.prefix(limit))
            let next = aliases.count > limit ? page.last.map { Paging.encode([$0.name]) } : nil
            return ListAliasesResponse(aliases: page, nextMarker: next)
        }
    }

    public func updateAlias(_ reference: FunctionReference, name: String, request: AliasRequest) async throws -> AliasConfiguration {
        try Validation.checkAliasName(name)
        try checkAliasDescription(request.description)
        return try await write { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            guard var alias = try tx.alias(name, of: function.name)?.configuration else {
                throw LambdaError.aliasNotFound(arns.function(function.name, qualifier: name))
            }
            if let revisionId = request.revisionId, revisionId != alias.revisionId { throw LambdaError.revisionMismatch }
            if let version = request.functionVersion { alias.functionVersion = version }
            if let routing = request.routingConfig { alias.routingConfig = normalized(routing) }
            if let description = request.description { alias.description = description }
            try checkAliasTargets(tx, function: function.name, version: alias.functionVersion, routing: alias.routingConfig)
            alias.revisionId = UUID().uuidString.lowercased()
            try tx.save(AliasRecord(functionName: function.name, configuration: alias))
            return alias
        }
    }

    /// Deleting an alias that does not exist succeeds, as the model's DeleteAlias (no ResourceNotFound) implies.
    public func deleteAlias(_ reference: FunctionReference, name: String) async throws {
        try Validation.checkAliasName(name)
        try await write { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            try tx.deleteAlias(name, of: function.name)
        }
    }

    func checkAliasDescription(_ description: String?) throws {
        if let description, description.count > Limits.maxDescriptionLength {
            throw LambdaError.validation([ConstraintViolation(value: description, field: "description", constraint: "Member must have length less than or equal to \(Limits.maxDescriptionLength)")])
        }
    }

    func normalized(_ routing: AliasRoutingConfiguration?) -> AliasRoutingConfiguration? {
        guard let weights = routing?.additionalVersionWeights, !weights.isEmpty else { return nil }
        return AliasRoutingConfiguration(additionalVersionWeights: weights)
    }

    func checkAliasTargets(_ tx: any FunctionStoreReading, function: String, version: String, routing: AliasRoutingConfiguration?) throws {
        guard version == "$LATEST" || Int(version) != nil else {
            throw LambdaError.validation([ConstraintViolation(value: version, field: "functionVersion", constraint: "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)")])
        }
        guard try tx.version(version, of: function) != nil else {
            throw LambdaError.functionNotFound(arns.function(function, qualifier: version))
        }
        guard let weights = routing?.additionalVersionWeights, !weights.isEmpty else { return }
        guard weights.count == 1, let (extra, weight) = weights.first else {
            throw LambdaError(.invalidParameterValue, "An alias can route to at most one additional version; give AdditionalVersionWeights a single entry.")
        }
        guard weight >= 0, weight <= 1 else {
            throw LambdaError.validation([ConstraintViolation(value: "\(weight)", field: "routingConfig.additionalVersionWeights", constraint: "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")])
        }
        guard version != "$LATEST", Int(extra) != nil else {
            throw LambdaError(.invalidParameterValue, "$LATEST is not supported for an alias pointing to more than 1 version; point the alias and its additional version at published versions.")
        }
        guard extra != version else {
            throw LambdaError(.invalidParameterValue, "The additional version (\(extra)) must differ from the alias's primary version (\(version)).")
        }
        guard try tx.version(extra, of: function) != nil else {
            throw LambdaError.functionNotFound(arns.function(function, qualifier: extra))
        }
    }
}
