import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI

/// A function version's prewarmed environments: initialized (runtime started, handler imported, waiting in
/// `GET /next`) and bound to no tenant. One that has never served anyone is as fresh as a new one, so the first
/// tenant that needs a new environment claims it, keeps it for the rest of its life, and skips the cold start.
struct PoolKey: Hashable, Sendable {
    var function: String
    var version: String
    var revision: String
}

struct PoolDemand: Sendable {
    var target: Int
    var lastInvoked: ContinuousClock.Instant
    var resolved: ResolvedFunction
    var filling = 0
    /// After a prewarmed environment failed to start, none is tried again before this.
    var retryAfter: ContinuousClock.Instant?
}

extension Engine {
    static func poolKey(_ resolved: ResolvedFunction) -> PoolKey {
        let configuration = resolved.version.configuration
        return PoolKey(function: resolved.function.name, version: configuration.version, revision: configuration.revisionId)
    }

    /// How many to keep for this function: its `isola:prewarm` tag, else `--prewarm`.
    func prewarmTarget(_ resolved: ResolvedFunction) -> Int {
        let tagged = resolved.function.tags[EngineConfiguration.prewarmTag].flatMap { Int($0) }
        return max(0, min(tagged ?? configuration.prewarm, 64))
    }

    /// An invocation of this version: its pool is kept filled while it is in use (`fillPool` after the invocation).
    func notePoolDemand(_ resolved: ResolvedFunction) {
        let key = Self.poolKey(resolved)
        let target = prewarmTarget(resolved)
        guard target > 0, !shuttingDown else {
            if poolDemand[key] != nil { dropPool(key) }
            return
        }
        var demand = poolDemand[key] ?? PoolDemand(target: target, lastInvoked: .now, resolved: resolved)
        demand.target = target
        demand.lastInvoked = .now
        demand.resolved = resolved
        poolDemand[key] = demand
    }

    /// Starts prewarmed environments in the background until the pool (ready + starting) reaches its target.
    func fillPool(_ key: PoolKey) {
        guard var demand = poolDemand[key], !shuttingDown else { return }
        if let retryAfter = demand.retryAfter, ContinuousClock.now < retryAfter { return }
        let missing = demand.target - (pools[key]?.count ?? 0) - demand.filling
        guard missing > 0 else { return }
        demand.filling += missing
        poolDemand[key] = demand
        let resolved = demand.resolved
        for _ in 0..<missing {
            // Unstructured: nobody waits for a prewarmed environment; a tenant that comes first starts its own.
            // A moment later, not at once: starting a sandbox (bundle, posix_spawn of crun) on this event loop
            // right away would hold up the response of the invocation that asked for the refill.
            Task {
                try? await Task.sleep(for: .milliseconds(50))
                await self.startPooled(key, resolved: resolved)
            }
        }
    }

    private func startPooled(_ key: PoolKey, resolved: ResolvedFunction) async {
        let environmentKey = EnvironmentKey(function: key.function, version: key.version, revision: key.revision, tenant: nil)
        let creation: Creation
        do {
            creation = try await createEnvironment(key: environmentKey, resolved: resolved, initLimit: configuration.initLimit, pooled: true)
        } catch {
            // No room (the caps or the memory budget): a pool is a convenience, it waits for the next invocation.
            poolDemand[key]?.filling -= 1
            return
        }
        poolDemand[key]?.filling -= 1
        switch creation {
        case .success(let environment):
            guard poolDemand[key] != nil, !shuttingDown else { return retire(environment) }
            environment.idleSince = .now
            pools[key, default: []].append(environment)
        case .failure(_, let environment):
            retire(environment)
            poolDemand[key]?.retryAfter = .now + .seconds(10)
        }
    }

    /// A ready prewarmed environment of the key's version, bound from now on to the key's tenant; nil if none.
    func claimPooled(for key: EnvironmentKey, memoryMB: Int) -> Environment? {
        let poolKey = PoolKey(function: key.function, version: key.version, revision: key.revision)
        while let candidate = pools[poolKey]?.popLast() {
            if pools[poolKey]?.isEmpty == true { pools[poolKey] = nil }
            guard candidate.isUsable(keepAlive: .seconds(365 * 86_400)) else {
                retire(candidate)
                continue
            }
            candidate.log.bind(tenant: key.tenant)
            recordEnvironmentCreated(function: key.function, tenant: key.tenant, memoryMB: memoryMB)
            return candidate
        }
        return nil
    }

    /// Evicts one prewarmed environment (of `function`, or of any); false when there is none.
    func evictPooled(function: String?) -> Bool {
        guard let (key, _) = pools.first(where: { function == nil || $0.key.function == function }),
            let victim = pools[key]?.popLast()
        else { return false }
        if pools[key]?.isEmpty == true { pools[key] = nil }
        retire(victim)
        return true
    }

    func dropPool(_ key: PoolKey) {
        poolDemand[key] = nil
        for environment in pools.removeValue(forKey: key) ?? [] { retire(environment) }
    }

    /// After an update or delete: the function's pools go; the next invocation builds them for the new revision.
    func retirePools(function: String) {
        for key in Array(poolDemand.keys) where key.function == function { dropPool(key) }
        for key in Array(pools.keys) where key.function == function { dropPool(key) }
    }

    /// Pools of versions not invoked within the keep-alive go, like idle environments.
    func reapPools() {
        let now = ContinuousClock.now
        for (key, demand) in poolDemand where now - demand.lastInvoked > configuration.keepAlive { dropPool(key) }
    }
}
