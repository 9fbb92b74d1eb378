import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Logging
import Testing

@testable import IsolaEngine

/// Asynchronous invocations against the fake sandbox and a real SQLite queue.
@Suite("Async invoker: delivery, retries, failure records")
struct AsyncInvokerTests {
    /// What the fake runtime saw: (tenant, request id) per event.
    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [(String?, String)] = []
        func add(_ tenant: String?, _ id: String) { lock.withLock { events.append((tenant, id)) } }
        var all: [(String?, String)] { lock.withLock { events } }
    }

    func invoker(_ h: EngineHarness, retryDelay: Duration = .milliseconds(100)) -> AsyncInvoker {
        var configuration = AsyncConfiguration()
        configuration.retryDelay = retryDelay
        configuration.throttleDelay = .milliseconds(50)
        configuration.pollInterval = .milliseconds(20)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return AsyncInvoker(queue: h.store, controlPlane: h.plane, engine: h.engine, configuration: configuration, logger: logger)
    }

    func event(_ id: String, function: String = "f", tenant: String? = "a", attempts: Int = 0) -> QueuedEvent {
        QueuedEvent(id: id, functionName: function, qualifier: "$LATEST", tenantId: tenant, payload: Data(#"{"n": 1}"#.utf8), enqueuedAt: Date(), attempts: attempts)
    }

    @Test func anEventIsDeliveredToItsTenantAndLeavesTheQueue() async throws {
        let seen = Seen()
        let h = try await EngineHarness.make { _, tenant, id in
            seen.add(tenant, id)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true)
        let invoker = invoker(h)
        let running = Task { await invoker.run() }
        try await invoker.submit(event("e1", tenant: "blue"))
        #expect(try await eventually { await invoker.queuedCount() == 0 })
        #expect(seen.all.map(\.0) == ["blue"] && seen.all.map(\.1) == ["e1"])
        #expect(try await h.store.failedEvents(function: nil, limit: 10).isEmpty)
        running.cancel()
        await running.value
        await h.remove()
    }

    @Test func aFunctionErrorIsRetriedThenRecorded() async throws {
        let seen = Seen()
        let h = try await EngineHarness.make { _, tenant, id in
            seen.add(tenant, id)
            return .postError(type: "", body: #"{"errorType": "ValueError", "errorMessage": "no"}"#)
        }
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putEventInvokeConfig(
            FunctionReference(name: "f"), PutEventInvokeConfigRequest(maximumRetryAttempts: 1), merge: false, now: Date()
        )
        let invoker = invoker(h)
        let running = Task { await invoker.run() }
        try await invoker.submit(event("e2"))
        #expect(try await eventually { (try? await h.store.failedEvents(function: "f", limit: 10).count) == 1 })
        let failed = try await h.store.failedEvents(function: "f", limit: 10)
        #expect(failed.first?.reason == "RetriesExhausted")
        #expect(failed.first?.event.attempts == 2)
        #expect(failed.first?.event.lastErrorType == "ValueError")
        #expect(seen.all.map(\.1) == ["e2", "e2"])
        #expect(await invoker.queuedCount() == 0)
        running.cancel()
        await running.value
        await h.remove()
    }

    @Test func anAttemptCutShortByACrashIsNeverStartedAgainUnderItsNumber() async throws {
        let seen = Seen()
        let h = try await EngineHarness.make { _, tenant, id in
            seen.add(tenant, id)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putEventInvokeConfig(
            FunctionReference(name: "f"), PutEventInvokeConfigRequest(maximumRetryAttempts: 0), merge: false, now: Date()
        )
        // As a restart finds it: one attempt recorded, none finished.
        try await h.store.enqueue(event("e3", attempts: 1))
        let invoker = invoker(h)
        let running = Task { await invoker.run() }
        #expect(try await eventually { (try? await h.store.failedEvents(function: "f", limit: 10).count) == 1 })
        let failed = try await h.store.failedEvents(function: "f", limit: 10)
        #expect(failed.first?.event.lastErrorType == AsyncInvoker.interrupted)
        #expect(seen.all.isEmpty)
        running.cancel()
        await running.value
        await h.remove()
    }

    @Test func throttledTriesAreNotAttempts() async throws {
        let seen = Seen()
        let h = try await EngineHarness.make { _, tenant, id in
            Thread.sleep(forTimeInterval: 0.1)
            seen.add(tenant, id)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "f"), reserved: 1)
        _ = try await h.plane.putEventInvokeConfig(
            FunctionReference(name: "f"), PutEventInvokeConfigRequest(maximumRetryAttempts: 0), merge: false, now: Date()
        )
        let invoker = invoker(h)
        let running = Task { await invoker.run() }
        for id in ["t1", "t2", "t3", "t4"] { try await invoker.submit(event(id)) }
        #expect(try await eventually(timeout: .seconds(10)) { await invoker.queuedCount() == 0 })
        #expect(Set(seen.all.map(\.1)) == ["t1", "t2", "t3", "t4"] && seen.all.count == 4)
        #expect(try await h.store.failedEvents(function: nil, limit: 10).isEmpty)
        running.cancel()
        await running.value
        await h.remove()
    }

    @Test func anEventOfADeletedFunctionIsRecorded() async throws {
        let h = try await EngineHarness.make { _, _, _ in .respond("{}") }
        let invoker = invoker(h)
        try await h.store.enqueue(event("e5", function: "gone"))
        let running = Task { await invoker.run() }
        #expect(try await eventually { (try? await h.store.failedEvents(function: "gone", limit: 10).first?.reason) == "FunctionNotFound" })
        running.cancel()
        await running.value
        await h.remove()
    }
}
