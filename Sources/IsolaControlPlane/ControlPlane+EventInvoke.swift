import Foundation
import IsolaStore
import LambdaAPI

/// How asynchronous invocations are retried: the event invoke configuration of a version or alias.
extension ControlPlane {
    /// The retry policy an asynchronous invocation of `reference` gets: its qualifier's configuration, or
    /// Lambda's defaults (2 retries, 6 hours).
    public struct AsyncPolicy: Sendable, Equatable {
        public var maximumRetryAttempts: Int
        public var maximumEventAgeInSeconds: Int

        public static let defaults = AsyncPolicy(maximumRetryAttempts: Limits.asyncDefaultRetryAttempts, maximumEventAgeInSeconds: Limits.asyncDefaultEventAgeSeconds)
    }

    public func putEventInvokeConfig(_ reference: FunctionReference, _ request: PutEventInvokeConfigRequest, merge: Bool, now: Date) async throws -> FunctionEventInvokeConfig {
        try Validation.checkEventInvokeConfig(request)
        return try await write { [self] tx in
            let (name, qualifier) = try target(tx, reference)
            let existing = try tx.eventInvokeConfig(qualifier, of: name)
            if merge, existing == nil { throw noConfig(name, qualifier) }
            let record = EventInvokeConfigRecord(
                functionName: name, qualifier: qualifier,
                maximumRetryAttempts: request.maximumRetryAttempts ?? (merge ? existing?.maximumRetryAttempts : nil),
                maximumEventAgeInSeconds: request.maximumEventAgeInSeconds ?? (merge ? existing?.maximumEventAgeInSeconds : nil),
                lastModified: now
            )
            try tx.save(record)
            return render(record)
        }
    }

    public func getEventInvokeConfig(_ reference: FunctionReference) async throws -> FunctionEventInvokeConfig {
        try await store.read { [self] tx in
            let (name, qualifier) = try target(tx, reference)
            guard let record = try tx.eventInvokeConfig(qualifier, of: name) else { throw noConfig(name, qualifier) }
            return render(record)
        }
    }

    public func deleteEventInvokeConfig(_ reference: FunctionReference) async throws {
        try await write { [self] tx in
            let (name, qualifier) = try target(tx, reference)
            guard try tx.eventInvokeConfig(qualifier, of: name) != nil else { throw noConfig(name, qualifier) }
            try tx.deleteEventInvokeConfig(qualifier, of: name)
        }
    }

    public func listEventInvokeConfigs(_ reference: FunctionReference, marker: String?, maxItems: Int?) async throws -> ListEventInvokeConfigsResponse {
        try requireUnqualified(reference, operation: "ListFunctionEventInvokeConfigs")
        let limit = min(try Paging.limit(maxItems), 50)
        return try await store.read { [self] tx in
            let name = try resolve(tx, reference).function.name
            let all = try tx.eventInvokeConfigs(of: name).filter { marker == nil || $0.qualifier > marker! }
            let page = Array(all.prefix(limit))
            return ListEventInvokeConfigsResponse(
                functionEventInvokeConfigs: page.map(render), nextMarker: all.count > limit ? page.last?.qualifier : nil
            )
        }
    }

    /// The policy for an asynchronous invocation of `function` as invoked with `qualifier`.
    public func asyncPolicy(function: String, qualifier: String) async throws -> AsyncPolicy {
        let record = try await store.read { tx in try tx.eventInvokeConfig(qualifier, of: function) }
        return AsyncPolicy(
            maximumRetryAttempts: record?.maximumRetryAttempts ?? Limits.asyncDefaultRetryAttempts,
            maximumEventAgeInSeconds: record?.maximumEventAgeInSeconds ?? Limits.asyncDefaultEventAgeSeconds
        )
    }

    /// The function and qualifier a configuration belongs to (`$LATEST` when none is given); the version or
    /// alias must exist.
    func target(_ tx: any FunctionStoreReading, _ reference: FunctionReference) throws -> (String, String) {
        let resolved = try resolve(tx, reference)
        return (resolved.function.name, reference.qualifier ?? "$LATEST")
    }

    func noConfig(_ name: String, _ qualifier: String) -> LambdaError {
        LambdaError(.resourceNotFound, "The function \(arns.function(name, qualifier: qualifier)) doesn't have an EventInvokeConfig")
    }

    func render(_ record: EventInvokeConfigRecord) -> FunctionEventInvokeConfig {
        FunctionEventInvokeConfig(
            lastModified: record.lastModified.timeIntervalSince1970,
            functionArn: arns.function(record.functionName, qualifier: record.qualifier),
            maximumRetryAttempts: record.maximumRetryAttempts ?? Limits.asyncDefaultRetryAttempts,
            maximumEventAgeInSeconds: record.maximumEventAgeInSeconds ?? Limits.asyncDefaultEventAgeSeconds
        )
    }
}
