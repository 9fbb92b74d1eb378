import Foundation
import IsolaStore
import LambdaAPI

/// Reserved concurrency, tags and account settings.
extension ControlPlane {
    public func putConcurrency(_ reference: FunctionReference, reserved: Int?) async throws -> Concurrency {
        try requireUnqualified(reference, operation: "PutFunctionConcurrency")
        guard let reserved else {
            throw LambdaError.validation([ConstraintViolation(value: "null", field: "reservedConcurrentExecutions", constraint: "Member must not be null")])
        }
        guard reserved >= 0 else {
            throw LambdaError.validation([ConstraintViolation(value: "\(reserved)", field: "reservedConcurrentExecutions", constraint: "Member must have value greater than or equal to 0")])
        }
        return try await write { [self] tx in
            var function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            let others = try tx.totals().reservedConcurrency - (function.reservedConcurrency ?? 0)
            if Limits.accountConcurrency - (others + reserved) < Limits.minimumUnreservedConcurrency {
                throw LambdaError(
                    .invalidParameterValue,
                    "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [\(Limits.minimumUnreservedConcurrency)]."
                )
            }
            function.reservedConcurrency = reserved
            try tx.save(function)
            return Concurrency(reservedConcurrentExecutions: reserved)
        }
    }

    public func getConcurrency(_ reference: FunctionReference) async throws -> Concurrency {
        try await store.read { [self] tx in
            let function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            return Concurrency(reservedConcurrentExecutions: function.reservedConcurrency)
        }
    }

    public func deleteConcurrency(_ reference: FunctionReference) async throws {
        try requireUnqualified(reference, operation: "DeleteFunctionConcurrency")
        try await write { [self] tx in
            var function = try resolve(tx, FunctionReference(name: reference.name, account: reference.account, region: reference.region)).function
            function.reservedConcurrency = nil
            try tx.save(function)
        }
    }

    // MARK: - Tags

    /// Tags belong to functions: the resource must be a function's unqualified ARN.
    func taggedFunction(_ resource: String) throws -> FunctionReference {
        let reference = try FunctionReference.parse(resource, field: "resource", maxLength: 256)
        guard reference.account != nil, reference.region != nil else {
            throw LambdaError.validation([ConstraintViolation(value: resource, field: "resource", constraint: "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+")])
        }
        if reference.qualifier != nil {
            throw LambdaError(.invalidParameterValue, "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        }
        return reference
    }

    public func tagResource(_ resource: String, tags: [String: String]?) async throws {
        let reference = try taggedFunction(resource)
        guard let tags else { throw LambdaError.validation([ConstraintViolation(value: "null", field: "tags", constraint: "Member must not be null")]) }
        _ = try Validation.checkTags(tags)
        try await write { [self] tx in
            var function = try resolve(tx, reference).function
            function.tags.merge(tags) { _, new in new }
            _ = try Validation.checkTags(function.tags)
            try tx.save(function)
        }
    }

    public func untagResource(_ resource: String, keys: [String]) async throws {
        let reference = try taggedFunction(resource)
        guard !keys.isEmpty else {
            throw LambdaError.validation([ConstraintViolation(value: "null", field: "tagKeys", constraint: "Member must not be null")])
        }
        try await write { [self] tx in
            var function = try resolve(tx, reference).function
            for key in keys { function.tags[key] = nil }
            try tx.save(function)
        }
    }

    public func listTags(_ resource: String) async throws -> ListTagsResponse {
        let reference = try taggedFunction(resource)
        return try await store.read { [self] tx in ListTagsResponse(tags: try resolve(tx, reference).function.tags) }
    }

    // MARK: - Account

    public func accountSettings() async throws -> AccountSettings {
        let totals = try await store.read { try $0.totals() }
        return AccountSettings(
            unreservedConcurrency: Limits.accountConcurrency - totals.reservedConcurrency,
            totalCodeSize: totals.totalCodeSize,
            functionCount: totals.functionCount
        )
    }
}
