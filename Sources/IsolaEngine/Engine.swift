import Foundation
import IsolaControlPlane
import IsolaLogs
import IsolaSandbox
import IsolaStore
import LambdaAPI
import Logging
import NIOCore
import NIOPosix

public struct EngineConfiguration: Sendable {
    /// Idle environments are kept this long after their last invocation, then torn down. Default 600 s.
    public var keepAlive: Duration = .seconds(600)
    /// At most this many environments live at once (AWS allows 2,500 tenant environments per 1,000 of
    /// concurrency). At the cap, the least recently used idle environment makes room; with none idle, the
    /// invocation is throttled (429 TooManyRequestsException). Default: `defaultMaxEnvironments`.
    public var maxEnvironments = EngineConfiguration.defaultMaxEnvironments

    /// 2,500, or fewer where memory is short: three quarters of physical memory at 16 MB per environment
    /// (an idle Python environment takes about 7 MB; the rest is headroom for the ones that work).
    public static var defaultMaxEnvironments: Int {
        let budget = Double(ProcessInfo.processInfo.physicalMemory) * 0.75 / Double(16 * 1_048_576)
        return max(16, min(2_500, Int(budget)))
    }

    /// The sum of MemorySize over live environments may not exceed this (MB). Default: 75% of RAM.
    public var memoryBudgetMB = EngineConfiguration.defaultMemoryBudgetMB
    /// Invocations in flight across all functions. Default: the memory budget over 128 MB, at most 1,000
    /// (AWS's default account concurrency).
    public var maxConcurrency = min(Limits.accountConcurrency, max(1, EngineConfiguration.defaultMemoryBudgetMB / 128))

    public static var defaultMemoryBudgetMB: Int { Int(Double(ProcessInfo.processInfo.physicalMemory) * 0.75 / 1_048_576) }

    /// The function tag that caps how many invocations one tenant may have in flight (Isola's, beyond AWS).
    public static let tenantConcurrencyTag = "isola:max-tenant-concurrency"
    /// The init phase's limit (AWS: 10 s); a longer init may also use the function's timeout, as AWS's retry does.
    public var initLimit: Duration = .seconds(10)
    public var region = "us-east-1"
    /// Prewarmed environments kept per function version that was invoked within the keep-alive: initialized,
    /// bound to no tenant, claimed by a new tenant's first invocation. `--prewarm` (1); the function tag
    /// `isola:prewarm=N` overrides it (0 disables).
    public var prewarm = 1
    public static let prewarmTag = "isola:prewarm"

    public init() {}
}

/// Runs invocations in execution environments, keyed so that an environment is never shared between tenants.
///
/// An invocation takes an idle environment of its key (the most recently used, so it is warm) or creates one;
/// concurrent invocations of one key get separate environments; each serves one invocation at a time.
public actor Engine {
    let backend: any SandboxBackend
    let catalog: RuntimeCatalog
    let code: CodeStore
    let unpacker: CodeUnpacker
    let configuration: EngineConfiguration
    let logger: Logger
    let group: any EventLoopGroup
    let logs: LogWriter?
    /// Per-tenant metering (nil: none).
    let usage: UsageMeter?
    let metrics: EngineMetrics?
    var idle: [EnvironmentKey: [Environment]] = [:]
    var live: [String: Environment] = [:]
    private var slots = SlotAllocator()
    var stopping: [String: Task<Void, Never>] = [:]
    private var warnedRuntimes: Set<String> = []
    var shuttingDown = false
    private var inFlight: [String: Int] = [:]
    private var inFlightTotal = 0
    private var inFlightByTenant: [TenantSlot: Int] = [:]
    /// MemorySize of every live environment, for the memory budget.
    private var memoryByEnvironment: [String: Int] = [:]
    /// Prewarmed environments per function version, never used, bound to no tenant (see Engine+Pools).
    var pools: [PoolKey: [Environment]] = [:]
    /// Per function version: how many to keep, when it was last invoked, pool creations in flight.
    var poolDemand: [PoolKey: PoolDemand] = [:]
    /// Environments being torn down at once (see `retire`).
    private let teardowns = AsyncSemaphore(permits: 4)

    /// `logs`: where environments' log streams go (nil: nowhere; only the tail of an invocation is kept).
    public init(backend: any SandboxBackend, catalog: RuntimeCatalog, code: CodeStore, unpackedCode: URL, configuration: EngineConfiguration, logs: LogWriter? = nil, usage: UsageMeter? = nil, metrics: EngineMetrics? = nil, logger: Logger) throws {
        self.logs = logs
        self.metrics = metrics
        self.usage = usage
        try catalog.check()
        self.backend = backend
        self.catalog = catalog
        self.code = code
        self.unpacker = try CodeUnpacker(root: unpackedCode)
        self.configuration = configuration
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup.singleton
    }

    public var environmentCount: Int { live.count }

    /// Live environments by state: `idle` (warm, waiting), `busy` (running an invocation or starting), `stopping`.
    public var environmentStates: [String: Int] {
        let idleCount = idle.values.reduce(0) { $0 + $1.count }
        let pooled = pools.values.reduce(0) { $0 + $1.count }
        return ["idle": idleCount, "prewarmed": pooled, "stopping": stopping.count, "busy": max(0, live.count - idleCount - pooled - stopping.count)]
    }

    /// Invokes the resolved version. `tenant` must already have passed the tenancy rules.
    public func invoke(_ resolved: ResolvedFunction, input: InvocationInput) async throws -> InvocationResult {
        guard !shuttingDown else { throw EngineError("The server is shutting down; retry the invocation.") }
        let configuration = resolved.version.configuration
        let key = EnvironmentKey(
            function: resolved.function.name, version: configuration.version, revision: configuration.revisionId,
            tenant: resolved.function.tenancy == nil ? nil : input.tenantId
        )
        let tenantLimit = resolved.function.tags[EngineConfiguration.tenantConcurrencyTag].flatMap { Int($0) }.map { max(0, $0) }
        do {
            try admit(resolved.function.name, reserved: resolved.function.reservedConcurrency, tenant: key.tenant, tenantLimit: tenantLimit)
        } catch {
            throttled(key, error)
            throw error
        }
        defer { release(resolved.function.name, tenant: key.tenant) }
        notePoolDemand(resolved)
        // The pool refills after the invocation, not during it: a sandbox starting beside it would slow it down.
        defer { fillPool(Self.poolKey(resolved)) }
        do {
            let result = try await run(input, key: key, resolved: resolved)
            meter(result, key: key, memoryMB: configuration.memorySize)
            return result
        } catch let error as LambdaError where error.code == .tooManyRequests {
            throttled(key, error)
            throw error
        }
    }

    private func throttled(_ key: EnvironmentKey, _ error: any Error) {
        usage?.record(function: key.function, tenant: key.tenant) { $0.throttles += 1 }
        metrics?.invocation(function: key.function, outcome: "throttled", duration: nil, coldStart: false)
        metrics?.throttled(function: key.function, reason: (error as? LambdaError)?.reason ?? "EnvironmentLimitExceeded")
    }

    func recordEnvironmentCreated(function: String, tenant: String?, memoryMB: Int) {
        usage?.record(function: function, tenant: tenant) { counters in
            counters.environmentsCreated += 1
            counters.environmentGb += Double(memoryMB) / 1024
        }
    }

    private func meter(_ result: InvocationResult, key: EnvironmentKey, memoryMB: Int) {
        let outcome = if case .functionError = result.kind { "error" } else { "success" }
        metrics?.invocation(function: key.function, outcome: outcome, duration: .microseconds(Int64(result.durationMs * 1000)), coldStart: result.coldStart)
        guard let usage else { return }
        let gb = Double(memoryMB) / 1024
        usage.record(function: key.function, tenant: key.tenant) { counters in
            counters.invocations += 1
            if case .functionError = result.kind { counters.errors += 1 }
            if result.coldStart { counters.coldStarts += 1 }
            counters.durationMs += result.durationMs
            counters.billedGbSeconds += Double(result.billedDurationMs) / 1000 * gb
        }
    }

    /// Takes a warm environment of the key or makes one, and runs the invocation in it.
    private func run(_ input: InvocationInput, key: EnvironmentKey, resolved: ResolvedFunction) async throws -> InvocationResult {
        let configuration = resolved.version.configuration
        // An environment that dies before its runtime takes the event (say, a warm one whose runtime just exited)
        // never ran user code with it: the invocation moves to a fresh environment, once.
        var attempt = 0
        while true {
            let coldStart: Bool
            let environment: Environment
            /// What is left of the function's timeout for the invocation itself (less after an init in the invoke phase).
            var budget = Duration.seconds(configuration.timeout)
            if attempt == 0, let warm = await takeIdle(key) {
                (environment, coldStart) = (warm, false)
            } else if attempt == 0, let prewarmed = claimPooled(for: key, memoryMB: configuration.memorySize) {
                // Initialized before this tenant asked, and never used: as fresh as a new one, without the wait.
                (environment, coldStart) = (prewarmed, false)
            } else {
                switch try await createEnvironment(key: key, resolved: resolved, initLimit: self.configuration.initLimit) {
                case .success(let created): (environment, coldStart) = (created, true)
                case .failure(.timedOut, let suppressed):
                    // As Lambda documents it: an init that outlasts its 10 s is abandoned, and init runs again in
                    // the invoke phase, within the function's timeout, which the invocation then shares.
                    retire(suppressed)
                    logger.info("init exceeded its limit; initializing again within the function timeout", metadata: [
                        "function": "\(key.function)", "init_limit_s": "\(self.configuration.initLimit.components.seconds)",
                    ])
                    switch try await createEnvironment(key: key, resolved: resolved, initLimit: budget) {
                    case .success(let created):
                        (environment, coldStart) = (created, true)
                        budget -= .milliseconds(Int64(created.initDurationMs ?? 0))
                    case .failure(let failure, let created):
                        return failedColdStart(failure, created, timeoutSeconds: configuration.timeout, input: input, configuration: configuration)
                    }
                case .failure(let failure, let created):
                    return failedColdStart(failure, created, timeoutSeconds: configuration.timeout, input: input, configuration: configuration)
                }
            }
            let report = await environment.invoke(input, timeoutSeconds: configuration.timeout, budget: budget)
            if report.outcome == .undelivered, attempt == 0 {
                retire(environment)
                attempt += 1
                continue
            }
            let measured = Measurements(
                duration: report.duration, initDurationMs: coldStart ? environment.initDurationMs : nil,
                maxMemoryBytes: report.maxMemoryBytes
            )
            let result = render(report.outcome, input: input, configuration: configuration, environment: environment, measured: measured, coldStart: coldStart)
            if report.reusable, !shuttingDown {
                environment.idleSince = .now
                idle[key, default: []].append(environment)
            } else {
                retire(environment)
            }
            return result
        }
    }

    /// The answer to an invocation whose environment could not be made ready; a timed-out init in the invoke
    /// phase reads as the function's timeout.
    private func failedColdStart(_ failure: Environment.Failure, _ created: Environment, timeoutSeconds: Int, input: InvocationInput, configuration: FunctionConfiguration) -> InvocationResult {
        retire(created)
        created.log.start(requestId: input.requestId)
        let reported: Environment.Failure = if case .timedOut = failure { .timedOut(seconds: timeoutSeconds) } else { failure }
        let outcome = Environment.outcome(for: reported, oomKilled: created.stats?.oomKilled ?? false)
        let measured = Measurements(duration: .zero, initDurationMs: created.initDurationMs, maxMemoryBytes: 0)
        return render(outcome, input: input, configuration: configuration, environment: created, measured: measured, coldStart: true)
    }

    /// Concurrency limits, as Lambda applies them: a function's reserved concurrency caps its invocations in
    /// flight (0 stops it), and the account's concurrency caps them all.
    private func admit(_ function: String, reserved: Int?, tenant: String?, tenantLimit: Int?) throws {
        if let reserved, inFlight[function, default: 0] >= reserved {
            throw LambdaError(.tooManyRequests, "Rate Exceeded.", reason: "ReservedFunctionConcurrentInvocationLimitExceeded")
        }
        guard inFlightTotal < configuration.maxConcurrency else {
            throw LambdaError(.tooManyRequests, "Rate Exceeded.", reason: "ConcurrentInvocationLimitExceeded")
        }
        if let tenant, let tenantLimit, inFlightByTenant[TenantSlot(function: function, tenant: tenant), default: 0] >= tenantLimit {
            throw LambdaError(
                .tooManyRequests,
                "Rate Exceeded. Tenant '\(tenant)' has \(tenantLimit) invocation(s) in flight, the most this function's \(EngineConfiguration.tenantConcurrencyTag) tag allows.",
                reason: "TenantConcurrentInvocationLimitExceeded"
            )
        }
        inFlight[function, default: 0] += 1
        inFlightTotal += 1
        if let tenant { inFlightByTenant[TenantSlot(function: function, tenant: tenant), default: 0] += 1 }
    }

    private func release(_ function: String, tenant: String?) {
        inFlightTotal -= 1
        let remaining = inFlight[function, default: 1] - 1
        inFlight[function] = remaining > 0 ? remaining : nil
        if let tenant {
            let slot = TenantSlot(function: function, tenant: tenant)
            let left = inFlightByTenant[slot, default: 1] - 1
            inFlightByTenant[slot] = left > 0 ? left : nil
        }
    }

    struct TenantSlot: Hashable {
        var function: String
        var tenant: String
    }

    /// The most recently used idle environment of the key that is still alive and within its keep-alive;
    /// one whose runtime died while idle, or that outlived the keep-alive, is retired instead of reused.
    private func takeIdle(_ key: EnvironmentKey) async -> Environment? {
        while let candidate = idle[key]?.popLast() {
            if idle[key]?.isEmpty == true { idle[key] = nil }
            if candidate.isUsable(keepAlive: configuration.keepAlive) { return candidate }
            retire(candidate)
        }
        return nil
    }

    enum Creation {
        case success(Environment)
        case failure(Environment.Failure, Environment)
    }

    func createEnvironment(key: EnvironmentKey, resolved: ResolvedFunction, initLimit: Duration, pooled: Bool = false) async throws -> Creation {
        let configuration = resolved.version.configuration
        let launch = catalog.launch(runtime: configuration.runtime, handler: configuration.handler)
        if launch.runtimeVersion != configuration.runtime, warnedRuntimes.insert(configuration.runtime).inserted {
            logger.warning("runtime served by another interpreter", metadata: ["runtime": "\(configuration.runtime)", "interpreter": "\(launch.runtimeVersion)"])
        }
        let codeDirectory = try await unpacker.directory(for: resolved.version.codeDigest, zip: code.url(for: resolved.version.codeDigest))
        // A prewarmed environment never pushes out a tenant's warm one: without room, the pool waits.
        try makeRoom(forMemoryMB: configuration.memorySize, function: resolved.function.name, reserved: resolved.function.reservedConcurrency, evictIdle: !pooled)
        guard let slot = slots.take() else {
            throw LambdaError(.tooManyRequests, "Rate exceeded", reason: "ConcurrentInvocationLimitExceeded")
        }
        let id = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let logStream = LogStreamName.make(version: configuration.version, environmentId: id)
        let identity = EnvironmentLog.Identity(
            group: configuration.loggingConfig.logGroup ?? "/aws/lambda/\(configuration.functionName)", stream: logStream,
            json: configuration.loggingConfig.logFormat == "JSON", functionName: configuration.functionName,
            functionArn: configuration.functionArn, version: configuration.version, memoryMB: configuration.memorySize,
            runtimeVersion: RuntimeCatalog.displayVersion(launch.runtimeVersion),
            runtimeVersionArn: "arn:aws:lambda:\(self.configuration.region)::runtime:\(RuntimeCatalog.versionDigest(launch.runtimeVersion))"
        )
        let environment = Environment(
            id: id, key: key, logStream: logStream, memoryMB: configuration.memorySize,
            isProvidedRuntime: configuration.runtime.hasPrefix("provided"), log: EnvironmentLog(identity: identity, tenant: key.tenant, writer: logs), logger: logger
        )
        live[id] = environment
        memoryByEnvironment[id] = configuration.memorySize
        metrics?.environmentCreated(function: key.function)
        // A prewarmed environment is charged to the tenant that claims it (Engine+Pools).
        if !pooled { recordEnvironmentCreated(function: key.function, tenant: key.tenant, memoryMB: configuration.memorySize) }
        let spec = SandboxSpec(
            id: id, codeDirectory: codeDirectory, runtimeDirectory: launch.runtimeDirectory,
            command: launch.command, environment: environmentVariables(configuration, launch: launch, logStream: logStream),
            memoryMB: configuration.memorySize, ephemeralStorageMB: configuration.ephemeralStorage.size,
            hostIDBase: SlotAllocator.hostIDBase(slot)
        )
        if let failure = await environment.start(spec: spec, backend: backend, group: group, initLimit: initLimit) {
            slotsByEnvironment[id] = slot
            return .failure(failure, environment)
        }
        slotsByEnvironment[id] = slot
        return .success(environment)
    }

    private var slotsByEnvironment: [String: Int] = [:]

    /// Lambda's reserved variables (contract 2.5), then the function's own.
    func environmentVariables(_ configuration: FunctionConfiguration, launch: RuntimeCatalog.Launch, logStream: String) -> [String: String] {
        var variables = configuration.environment?.variables ?? [:]
        let reserved: [String: String] = [
            "_HANDLER": configuration.handler,
            "AWS_REGION": self.configuration.region,
            "AWS_DEFAULT_REGION": self.configuration.region,
            "AWS_LAMBDA_FUNCTION_NAME": configuration.functionName,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": String(configuration.memorySize),
            "AWS_LAMBDA_FUNCTION_VERSION": configuration.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": configuration.loggingConfig.logGroup ?? "/aws/lambda/\(configuration.functionName)",
            "AWS_LAMBDA_LOG_STREAM_NAME": logStream,
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        ]
        variables.merge(reserved) { _, platform in platform }
        variables.merge(launch.environment) { _, platform in platform }
        if configuration.loggingConfig.logFormat == "JSON" {
            variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
            variables["AWS_LAMBDA_LOG_LEVEL"] = configuration.loggingConfig.applicationLogLevel ?? "INFO"
        }
        return variables
    }

    /// Keeps the number of environments under the cap and their MemorySize under the memory budget: evicts the
    /// least recently used idle environment (of any function or tenant: idle environments are a cache), or
    /// throttles when every environment is working.
    func makeRoom(forMemoryMB memoryMB: Int, function: String, reserved: Int?, evictIdle: Bool = true) throws {
        // AWS's cap on tenant environments, active or idle: 2,500 per 1,000 of concurrency, scaled to what this
        // function may use (its reserved concurrency, else the server's). The least recently used idle ones of
        // this function make room first.
        let functionCap = max(1, (reserved ?? configuration.maxConcurrency) * 5 / 2)
        while live.values.count(where: { $0.key.function == function && stopping[$0.id] == nil }) >= functionCap {
            if evictPooled(function: function) { continue }
            guard evictIdle else { throw LambdaError(.tooManyRequests, "Rate exceeded") }
            let oldest = idle.filter { $0.key.function == function }.flatMap { key, environments in environments.map { (key, $0) } }
                .min { $0.1.idleSince < $1.1.idleSince }
            guard let (key, victim) = oldest else {
                throw LambdaError(.tooManyRequests, "Rate exceeded")
            }
            evict(victim, from: key)
        }
        if memoryMB > configuration.memoryBudgetMB {
            throw LambdaError(
                .tooManyRequests,
                "Rate exceeded: the function's MemorySize (\(memoryMB) MB) is more than this server's whole memory budget (\(configuration.memoryBudgetMB) MB, --memory-budget).",
                reason: "ConcurrentInvocationLimitExceeded"
            )
        }
        func committedMemory() -> Int {
            memoryByEnvironment.filter { stopping[$0.key] == nil }.values.reduce(0, +)
        }
        while live.count - stopping.count >= configuration.maxEnvironments
            || committedMemory() + memoryMB > configuration.memoryBudgetMB
        {
            // Prewarmed environments go first: they are a convenience, idle tenants' are their warm state.
            if evictPooled(function: nil) { continue }
            guard evictIdle else { throw LambdaError(.tooManyRequests, "Rate exceeded", reason: "ConcurrentInvocationLimitExceeded") }
            let oldest = idle.flatMap { key, environments in environments.map { (key, $0) } }
                .min { $0.1.idleSince < $1.1.idleSince }
            guard let (key, victim) = oldest else {
                throw LambdaError(.tooManyRequests, "Rate exceeded", reason: "ConcurrentInvocationLimitExceeded")
            }
            evict(victim, from: key)
        }
    }

    private func evict(_ victim: Environment, from key: EnvironmentKey) {
        idle[key]?.removeAll { $0 === victim }
        if idle[key]?.isEmpty == true { idle[key] = nil }
        logger.debug("evicting an idle environment to make room", metadata: ["environment": "\(victim.id)"])
        retire(victim)
    }

    /// Takes an environment out of service and stops it in the background; shutdown waits for every stop.
    func retire(_ environment: Environment) {
        let id = environment.id
        guard live[id] != nil, stopping[id] == nil else { return }
        // Unstructured so the caller's response is not delayed by crun's delete; tracked in `stopping`.
        let teardowns = self.teardowns
        stopping[id] = Task {
            // A bounded number at a time: a keep-alive reap can retire a hundred environments at once, and a
            // hundred crun deletes at once stall every cold start behind them on a small host.
            await teardowns.acquire()
            await environment.stop()
            teardowns.release()
            self.forget(id)
        }
    }

    private func forget(_ id: String) {
        live[id] = nil
        memoryByEnvironment[id] = nil
        stopping[id] = nil
        if let slot = slotsByEnvironment.removeValue(forKey: id) { slots.give(slot) }
    }

    /// Retires every environment of a function (after an update or delete): idle ones now, busy ones after
    /// their invocation.
    public func retire(function: String) async {
        retirePools(function: function)
        for (key, environments) in idle where key.function == function {
            idle[key] = nil
            for environment in environments { retire(environment) }
        }
        for environment in live.values where environment.key.function == function {
            environment.markRetiring()
        }
    }

    /// Tears down environments idle for longer than the keep-alive.
    public func reapIdle() async {
        reapPools()
        // No await in here: the idle lists must not change under the loop (an invocation could otherwise take an
        // environment this loop then writes back, or retires, mid-invoke). `idleSince` is the engine's own clock.
        let now = ContinuousClock.now
        for (key, environments) in idle {
            let (expired, keep) = environments.reduce(into: ([Environment](), [Environment]())) { split, environment in
                if now - environment.idleSince > configuration.keepAlive { split.0.append(environment) } else { split.1.append(environment) }
            }
            idle[key] = keep.isEmpty ? nil : keep
            for environment in expired { retire(environment) }
        }
    }

    /// Stops every environment and waits until all are gone.
    public func shutdown() async {
        shuttingDown = true
        idle = [:]
        pools = [:]
        poolDemand = [:]
        for environment in live.values { retire(environment) }
        for task in stopping.values { await task.value }
        await backend.shutdown()
    }

    // MARK: - Rendering

    struct Measurements {
        var duration: Duration
        var initDurationMs: Double?
        var maxMemoryBytes: Int
    }

    func render(_ outcome: InvocationOutcome, input: InvocationInput, configuration: FunctionConfiguration, environment: Environment, measured: Measurements, coldStart: Bool) -> InvocationResult {
        let durationMs = measured.duration.inMilliseconds
        let payload: Data
        let kind: InvocationResult.Kind
        switch outcome {
        case .undelivered:
            let json = ["errorType": "Runtime.ExitError", "errorMessage": "RequestId: \(input.requestId) Error: Runtime exited without providing a reason"]
            payload = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
            kind = .functionError(errorType: "Runtime.ExitError")
        case .response(let body, _):
            payload = body
            kind = .success
        case .error(let body, let type):
            payload = body
            kind = .functionError(errorType: type)
        case .platformError(let type, let message):
            let json = ["errorType": type, "errorMessage": "RequestId: \(input.requestId) Error: \(message)"]
            payload = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])) ?? Data()
            kind = .functionError(errorType: type)
        }
        let contentType = if case .response(_, let type) = outcome { type } else { "application/json" }
        let output = environment.collector.take()
        let status = switch outcome {
        case .response: "success"
        case .platformError(errorType: "Sandbox.Timedout", _): "timeout"
        default: "error"
        }
        environment.log.end(
            requestId: input.requestId, durationMs: durationMs, initDurationMs: measured.initDurationMs, status: status, errorType: outcome.errorType,
            peakMemory: { [weak environment] in environment?.stats?.memoryPeakBytes ?? 0 }
        )
        // Only a caller who asked for the tail (X-Amz-Log-Type: Tail) gets these lines; nobody else reads them yet.
        let log = !input.tailLogs ? "" : ReportLine.tail(
            requestId: input.requestId, version: configuration.version, output: output,
            durationMs: durationMs, memoryMB: configuration.memorySize, maxMemoryMB: (measured.maxMemoryBytes + 1_048_575) / 1_048_576,
            initDurationMs: measured.initDurationMs, coldStart: coldStart,
            errorType: outcome.errorType
        )
        var result = InvocationResult(
            kind: kind, payload: payload, contentType: contentType, executedVersion: configuration.version,
            log: log, coldStart: coldStart, environmentId: environment.id
        )
        result.durationMs = durationMs
        result.billedDurationMs = Int(durationMs.rounded(.up)) + Int((measured.initDurationMs ?? 0).rounded(.up))
        return result
    }
}

/// Host uid/gid ranges for user namespaces: 65,536 ids per environment, never two live environments on one.
struct SlotAllocator {
    static let base: UInt32 = 1_000_000
    static let count = 60_000
    private var free: [Int] = []
    private var next = 0

    mutating func take() -> Int? {
        if let slot = free.popLast() { return slot }
        guard next < Self.count else { return nil }
        defer { next += 1 }
        return next
    }

    mutating func give(_ slot: Int) { free.append(slot) }

    static func hostIDBase(_ slot: Int) -> UInt32 { base + UInt32(slot) * 65_536 }
}

/// `YYYY/MM/DD/[<version>]<32 hex>`, as AWS names log streams: one per execution environment.
enum LogStreamName {
    static func make(version: String, environmentId: String, date: Date = Date()) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d/%02d/%02d/", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday)) + "[\(version)]\(environmentId)"
    }
}

/// The platform's log lines for one invocation (Text format), as `X-Amz-Log-Result` carries them.
enum ReportLine {
    static func tail(requestId: String, version: String, output: String, durationMs: Double, memoryMB: Int, maxMemoryMB: Int, initDurationMs: Double?, coldStart: Bool, errorType: String?) -> String {
        let report = Self.report(requestId: requestId, durationMs: durationMs, memoryMB: memoryMB, maxMemoryMB: maxMemoryMB, initDurationMs: initDurationMs, errorType: errorType)
        var text = "START RequestId: \(requestId) Version: \(version)\n"
        text += output.isEmpty || output.hasSuffix("\n") ? output : output + "\n"
        text += "END RequestId: \(requestId)\n" + report + "\n"
        return text
    }

    /// `REPORT RequestId: ...\tDuration: ...` as Lambda writes it (billed duration includes a cold start's init).
    static func report(requestId: String, durationMs: Double, memoryMB: Int, maxMemoryMB: Int, initDurationMs: Double?, errorType: String?) -> String {
        var report = "REPORT RequestId: \(requestId)\tDuration: \(DecimalText.twoDecimals(durationMs)) ms\tBilled Duration: \(Int(durationMs.rounded(.up)) + Int((initDurationMs ?? 0).rounded(.up))) ms\tMemory Size: \(memoryMB) MB\tMax Memory Used: \(maxMemoryMB) MB\t"
        if let initDurationMs { report += "Init Duration: \(DecimalText.twoDecimals(initDurationMs)) ms\t" }
        if let errorType { report += errorType == "Sandbox.Timedout" ? "Status: timeout" : "Status: error\tError Type: \(errorType)" }
        return report
    }
}
