import Foundation
import IsolaControlPlane
import IsolaSandbox
import LambdaAPI
import Testing

@testable import IsolaEngine

/// Routing, reuse and failure handling, against the fake sandbox and the real Runtime API sockets.
@Suite("Engine: environments, tenants and failures")
struct EngineTests {
    @Test func aTenantsEnvironmentIsReusedAndNeverShared() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("f", perTenant: true)
        let a1 = try await h.invoke("f", tenant: "a")
        let a2 = try await h.invoke("f", tenant: "a")
        let b1 = try await h.invoke("f", tenant: "b")
        #expect(a1.json["tenant"] as? String == "a")
        #expect(a1.coldStart && !a2.coldStart && b1.coldStart)
        #expect(a1.environmentId == a2.environmentId)
        #expect(a2.json["count"] as? Int == 2)
        #expect(b1.environmentId != a1.environmentId)
        #expect(b1.json["count"] as? Int == 1)
        #expect(h.backend.startedSpecs.count == 2)
        await h.remove()
    }

    @Test func twentyTenantsGetTwentyEnvironments() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("f", perTenant: true)
        var environments = Set<String>()
        for tenant in 1...20 {
            let result = try await h.invoke("f", tenant: String(tenant))
            #expect(result.json["tenant"] as? String == String(tenant))
            environments.insert(result.environmentId)
        }
        #expect(environments.count == 20)
        #expect(await h.engine.environmentCount == 20)
        await h.remove()
    }

    @Test func anOrdinaryFunctionSharesItsWarmEnvironmentAndPassesNoTenant() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("g", perTenant: false)
        let first = try await h.invoke("g", tenant: nil)
        let second = try await h.invoke("g", tenant: nil)
        #expect(first.environmentId == second.environmentId)
        #expect(second.json["tenant"] as? String == "none")
        await h.remove()
    }

    @Test func concurrentInvokesOfOneTenantGetSeparateEnvironments() async throws {
        let h = try await EngineHarness.make { count, tenant, _ in
            Thread.sleep(forTimeInterval: 0.3)
            return .respond(#"{"count": \#(count)}"#)
        }
        try await h.createFunction("f", perTenant: true)
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<3 { group.addTask { try await h.invoke("f", tenant: "a").environmentId } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 3)
        await h.remove()
    }

    @Test func aFunctionErrorIsReturnedAsTheRuntimePostedIt() async throws {
        let body = #"{"errorMessage": "boom", "errorType": "ValueError", "requestId": "x", "stackTrace": []}"#
        let h = try await EngineHarness.make { _, _, _ in .postError(type: "", body: body) }
        try await h.createFunction("f", perTenant: false)
        let result = try await h.invoke("f", tenant: nil)
        #expect(result.kind == .functionError(errorType: "ValueError"))
        #expect(String(decoding: result.payload, as: UTF8.self) == body)
        #expect(result.log.contains("Status: error\tError Type: ValueError"))
        await h.remove()
    }

    @Test func aTimeoutResetsTheEnvironment() async throws {
        let h = try await EngineHarness.make { count, _, _ in count == 1 ? .hang : .respond("{}") }
        try await h.createFunction("f", perTenant: true, timeout: 1)
        let timedOut = try await h.invoke("f", tenant: "a")
        #expect(timedOut.kind == .functionError(errorType: "Sandbox.Timedout"))
        let message = timedOut.json["errorMessage"] as? String ?? ""
        #expect(message.hasPrefix("RequestId: ") && message.hasSuffix(" Error: Task timed out after 1.00 seconds"))
        #expect(timedOut.log.contains("Status: timeout"))
        let next = try await h.invoke("f", tenant: "a")
        #expect(next.coldStart)
        #expect(next.environmentId != timedOut.environmentId)
        await h.remove()
    }

    @Test func aRuntimeThatExitsMidInvokeGivesExitError() async throws {
        let h = try await EngineHarness.make { _, _, _ in .exit(3) }
        try await h.createFunction("f", perTenant: false)
        let result = try await h.invoke("f", tenant: nil)
        #expect(result.kind == .functionError(errorType: "Runtime.ExitError"))
        #expect((result.json["errorMessage"] as? String)?.hasSuffix("Error: Runtime exited with error: exit status 3") == true)
        await h.remove()
    }

    @Test func anInitErrorReachesTheCallerWithItsType() async throws {
        let body = #"{"errorMessage": "Handler 'nosuch' missing on module 'app'", "errorType": "Runtime.HandlerNotFound", "requestId": "", "stackTrace": []}"#
        let h = try await EngineHarness.make(initBehaviour: .initError(type: "Runtime.HandlerNotFound", body: body), step: echoStep)
        try await h.createFunction("f", perTenant: false)
        let result = try await h.invoke("f", tenant: nil)
        #expect(result.kind == .functionError(errorType: "Runtime.HandlerNotFound"))
        #expect(String(decoding: result.payload, as: UTF8.self) == body)
        await h.remove()
    }

    @Test func askingForTheNextEventBeforeAnsweringFailsTheInvocation() async throws {
        let h = try await EngineHarness.make { _, _, _ in .askNextAgain }
        try await h.createFunction("f", perTenant: false)
        let result = try await h.invoke("f", tenant: nil)
        #expect(result.kind == .functionError(errorType: "Runtime.InvalidStateTransition"))
        let next = try await h.invoke("f", tenant: nil)
        #expect(next.environmentId != result.environmentId)
        await h.remove()
    }

    @Test func anUpdateRetiresTheOldEnvironments() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("f", perTenant: true)
        let before = try await h.invoke("f", tenant: "a")
        let request = try JSONDecoder().decode(UpdateFunctionConfigurationRequest.self, from: Data(#"{"Description": "v2"}"#.utf8))
        _ = try await h.plane.updateConfiguration(FunctionReference(name: "f"), request: request)
        await h.engine.retire(function: "f")
        let after = try await h.invoke("f", tenant: "a")
        #expect(after.environmentId != before.environmentId)
        #expect(after.json["count"] as? Int == 1)
        await h.remove()
    }

    @Test func idleEnvironmentsPastTheKeepAliveAreTornDown() async throws {
        let h = try await EngineHarness.make(keepAlive: .zero, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        let first = try await h.invoke("f", tenant: "a")
        await h.engine.reapIdle()
        #expect(try await eventually { h.backend.stoppedSandboxes.contains(first.environmentId) })
        #expect(try await eventually { await h.engine.environmentCount == 0 })
        await h.remove()
    }

    @Test func shutdownStopsEveryEnvironment() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("f", perTenant: true)
        for tenant in ["a", "b", "c"] { _ = try await h.invoke("f", tenant: tenant) }
        await h.engine.shutdown()
        #expect(Set(h.backend.stoppedSandboxes).count == 3)
        #expect(await h.engine.environmentCount == 0)
        await h.remove()
    }

    @Test func atTheCapTheLeastRecentlyUsedIdleEnvironmentMakesRoom() async throws {
        let h = try await EngineHarness.make(maxEnvironments: 2, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        let a = try await h.invoke("f", tenant: "a")
        let b = try await h.invoke("f", tenant: "b")
        _ = try await h.invoke("f", tenant: "b")
        let c = try await h.invoke("f", tenant: "c")
        #expect(try await eventually { !h.backend.stoppedSandboxes.isEmpty })
        #expect(h.backend.stoppedSandboxes == [a.environmentId], "a was idle longest")
        let bAgain = try await h.invoke("f", tenant: "b")
        #expect(bAgain.environmentId == b.environmentId && !bAgain.coldStart)
        #expect(c.coldStart)
        await h.remove()
    }

    @Test func withEveryEnvironmentBusyANewOneIsThrottled() async throws {
        let h = try await EngineHarness.make(maxEnvironments: 1) { _, _, _ in
            Thread.sleep(forTimeInterval: 0.5)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true)
        async let first = h.invoke("f", tenant: "a")
        // Once a's environment exists it is working (initializing, then busy), so it cannot make room.
        while h.backend.startedSpecs.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        await #expect(throws: LambdaError(.tooManyRequests, "Rate exceeded", reason: "ConcurrentInvocationLimitExceeded")) {
            _ = try await h.invoke("f", tenant: "b")
        }
        #expect(try await first.kind == .success)
        await h.remove()
    }

    @Test func reservedConcurrencyCapsInvocationsInFlight() async throws {
        let h = try await EngineHarness.make { _, _, _ in
            Thread.sleep(forTimeInterval: 0.4)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "f"), reserved: 1)
        async let first = h.invoke("f", tenant: "a")
        while h.backend.startedSpecs.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        await #expect(throws: LambdaError(.tooManyRequests, "Rate Exceeded.", reason: "ReservedFunctionConcurrentInvocationLimitExceeded")) {
            _ = try await h.invoke("f", tenant: "b")
        }
        #expect(try await first.kind == .success)
        // The slot is free again once the first invocation is done.
        #expect(try await h.invoke("f", tenant: "b").kind == .success)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "f"), reserved: 0)
        await #expect(throws: LambdaError(.tooManyRequests, "Rate Exceeded.", reason: "ReservedFunctionConcurrentInvocationLimitExceeded")) {
            _ = try await h.invoke("f", tenant: "a")
        }
        await h.remove()
    }

    @Test func theMemoryBudgetEvictsIdleEnvironmentsFirst() async throws {
        let h = try await EngineHarness.make(memoryBudgetMB: 512, step: echoStep)
        try await h.createFunction("small", perTenant: true, memory: 256)
        let a = try await h.invoke("small", tenant: "a")
        _ = try await h.invoke("small", tenant: "b")
        // 256 + 256 = the whole budget: a third environment needs the least recently used idle one (a) to go.
        _ = try await h.invoke("small", tenant: "c")
        #expect(try await eventually { h.backend.stoppedSandboxes == [a.environmentId] })
        try await h.createFunction("huge", perTenant: false, memory: 1024)
        await #expect(throws: LambdaError.self) { _ = try await h.invoke("huge", tenant: nil) }
        await h.remove()
    }

    @Test func theTenantConcurrencyTagCapsOneNoisyTenant() async throws {
        let h = try await EngineHarness.make { _, _, _ in
            Thread.sleep(forTimeInterval: 0.4)
            return .respond("{}")
        }
        try await h.createFunction("f", perTenant: true, tags: ["isola:max-tenant-concurrency": "1"])
        async let busy = h.invoke("f", tenant: "noisy")
        while h.backend.startedSpecs.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        do {
            _ = try await h.invoke("f", tenant: "noisy")
            Issue.record("the noisy tenant's second concurrent invocation was not throttled")
        } catch let error as LambdaError {
            #expect(error.code == .tooManyRequests && error.reason == "TenantConcurrentInvocationLimitExceeded")
            #expect(error.message.contains("isola:max-tenant-concurrency"))
        }
        #expect(try await h.invoke("f", tenant: "quiet").kind == .success, "another tenant is not held back")
        #expect(try await busy.kind == .success)
        await h.remove()
    }

    @Test func anInitOverItsLimitRunsAgainWithinTheFunctionTimeout() async throws {
        let h = try await EngineHarness.make(initLimit: .milliseconds(300), initBehaviour: .slow(.seconds(2), slowStarts: 1), step: echoStep)
        try await h.createFunction("f", perTenant: true, timeout: 3)
        let result = try await h.invoke("f", tenant: "a")
        #expect(result.kind == .success && result.coldStart)
        // The first sandbox was abandoned at the init limit; the second initialized in the invoke phase.
        #expect(h.backend.startedSpecs.count == 2)
        #expect(try await eventually { h.backend.stoppedSandboxes.count == 1 })
        await h.remove()
    }

    @Test func anInitThatOutlastsTheFunctionTimeoutTooIsATimeout() async throws {
        let h = try await EngineHarness.make(initLimit: .milliseconds(300), initBehaviour: .slow(.seconds(5), slowStarts: 2), step: echoStep)
        try await h.createFunction("f", perTenant: true, timeout: 1)
        let result = try await h.invoke("f", tenant: "a")
        #expect(result.kind == .functionError(errorType: "Sandbox.Timedout"))
        #expect(String(decoding: result.payload, as: UTF8.self).contains("Task timed out after 1.00 seconds"))
        #expect(h.backend.startedSpecs.count == 2)
        await h.remove()
    }

    @Test func aFunctionsTenantEnvironmentsAreCappedAtTwoAndAHalfTimesItsConcurrency() async throws {
        let h = try await EngineHarness.make(step: echoStep)
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "f"), reserved: 1)
        // Reserved concurrency 1: at most 2 environments. The third tenant evicts the least recently used idle one.
        let a = try await h.invoke("f", tenant: "a")
        _ = try await h.invoke("f", tenant: "b")
        _ = try await h.invoke("f", tenant: "c")
        #expect(try await eventually { h.backend.stoppedSandboxes == [a.environmentId] })
        #expect(await h.engine.environmentCount == 2)
        let again = try await h.invoke("f", tenant: "a")
        #expect(again.coldStart && again.environmentId != a.environmentId)
        await h.remove()
    }
}
