import Foundation
import IsolaControlPlane
import IsolaSandbox
import LambdaAPI
import Testing

@testable import IsolaEngine

/// Prewarmed environments: initialized, bound to no tenant, claimed once by a new tenant, refilled.
@Suite("Engine: prewarmed environments")
struct PoolTests {
    @Test func aNewTenantClaimsANeverUsedEnvironmentAndThePoolRefills() async throws {
        let h = try await EngineHarness.make(prewarm: 1, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        let first = try await h.invoke("f", tenant: "a")
        #expect(first.coldStart)  // no pool before the version's first invocation
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 1 })
        let b = try await h.invoke("f", tenant: "b")
        #expect(!b.coldStart && b.json["tenant"] as? String == "b" && b.json["count"] as? Int == 1)
        // b keeps it; the pool refills with another never-used one, which c claims.
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 1 })
        let c = try await h.invoke("f", tenant: "c")
        #expect(!c.coldStart && c.environmentId != b.environmentId && c.json["count"] as? Int == 1)
        let bAgain = try await h.invoke("f", tenant: "b")
        #expect(bAgain.environmentId == b.environmentId && bAgain.json["count"] as? Int == 2)
        await h.remove()
    }

    @Test func theTagOverridesTheDefaultAndZeroTurnsPoolsOff() async throws {
        let h = try await EngineHarness.make(prewarm: 1, step: echoStep)
        try await h.createFunction("f", perTenant: true, tags: [EngineConfiguration.prewarmTag: "0"])
        _ = try await h.invoke("f", tenant: "a")
        try await Task.sleep(for: .milliseconds(300))
        #expect(await h.engine.environmentStates["prewarmed"] == 0)
        #expect(h.backend.startedSpecs.count == 1)
        try await h.createFunction("g", perTenant: true, tags: [EngineConfiguration.prewarmTag: "3"])
        _ = try await h.invoke("g", tenant: "a")
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 3 })
        await h.remove()
    }

    @Test func anUpdateDropsThePoolAndTheBudgetEvictsPooledEnvironmentsFirst() async throws {
        let h = try await EngineHarness.make(memoryBudgetMB: 256, prewarm: 1, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        _ = try await h.invoke("f", tenant: "a")
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 1 })
        // The budget holds two 128 MB environments: a's idle one and the pooled one. A claim uses the pooled one.
        let b = try await h.invoke("f", tenant: "b")
        #expect(!b.coldStart)
        await h.engine.retire(function: "f")
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 0 })
        await h.remove()
    }

    @Test func aClaimedEnvironmentIsNeverReusedAfterItIsRetired() async throws {
        let h = try await EngineHarness.make(prewarm: 1, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        _ = try await h.invoke("f", tenant: "a")
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 1 })
        let claimed = try await h.invoke("f", tenant: "b")
        #expect(!claimed.coldStart)
        await h.engine.retire(function: "f")
        #expect(try await eventually { h.backend.stoppedSandboxes.contains(claimed.environmentId) })
        // Neither b nor anyone else ever sees that environment again; b starts clean in a new one.
        for tenant in ["b", "c", "b"] {
            let result = try await h.invoke("f", tenant: tenant)
            #expect(result.environmentId != claimed.environmentId)
        }
        await h.remove()
    }

    @Test func aRefillNeverEvictsATenantsWarmEnvironment() async throws {
        let h = try await EngineHarness.make(prewarm: 1, step: echoStep)
        try await h.createFunction("f", perTenant: true)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "f"), reserved: 1)
        // Reserved concurrency 1: at most 2 environments. a's, then the pooled one, which b claims.
        let a = try await h.invoke("f", tenant: "a")
        #expect(try await eventually { await h.engine.environmentStates["prewarmed"] == 1 })
        _ = try await h.invoke("f", tenant: "b")
        // The refill finds no room and waits: a's warm environment stays.
        try await Task.sleep(for: .milliseconds(300))
        #expect(!h.backend.stoppedSandboxes.contains(a.environmentId))
        let aAgain = try await h.invoke("f", tenant: "a")
        #expect(aAgain.environmentId == a.environmentId && !aAgain.coldStart)
        await h.remove()
    }
}
