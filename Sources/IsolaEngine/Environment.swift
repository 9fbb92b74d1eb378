import Foundation
import NIOCore
import NIOPosix
import Synchronization
import IsolaSandbox
import LambdaAPI
import Logging

/// Which environments may serve an invocation: never one of another tenant, never one of another revision.
public struct EnvironmentKey: Hashable, Sendable, CustomStringConvertible {
    public var function: String
    public var version: String
    /// The configuration revision it was built from: after an update, old environments never match again.
    public var revision: String
    /// nil for ordinary functions; for PER_TENANT functions, the tenant it belongs to for its whole life.
    public var tenant: String?

    public var description: String { "\(function):\(version)\(tenant.map { " tenant=\($0)" } ?? "")" }
}

/// One execution environment: a sandbox, its Runtime API socket, and its life as an explicit state machine.
///
///     creating -> initializing -> idle <-> busy
///                      |            |       |
///                      +------> retiring <--+ -> gone
///
/// `initializing` ends at the runtime's first `GET /next` (init done, no tenant involved, as on AWS). An
/// invocation moves `idle -> busy`; its result moves it back to `idle`. A timeout, a crash, a protocol violation,
/// keep-alive expiry or shutdown moves it to `retiring`, and `stop()` to `gone`. `stop()` is safe to call twice.
///
/// A class whose state sits behind one lock rather than an actor: the Runtime API is answered synchronously on the
/// socket's event loop, so a warm invocation crosses threads only where it must (the runtime's event loop and the
/// caller's task), not once more per Runtime API request to reach an actor.
final class Environment: Sendable {
    enum Phase: String, Sendable { case creating, initializing, idle, busy, retiring, gone }

    /// Why a runtime request or the platform ended an environment's usefulness.
    enum Failure: Sendable, Equatable {
        case initError(body: Data, errorType: String)
        case exited(SandboxExit)
        case invalidEntrypoint
        case timedOut(seconds: Int)
        case protocolViolation(String)
    }

    struct Assignment: Sendable {
        var input: InvocationInput
        var deadline: Date
        var latch: Latch<InvocationOutcome>
    }

    /// Everything that changes, guarded by `state`.
    struct State: Sendable {
        var phase: Phase = .creating
        var lastUsed: ContinuousClock.Instant = .now
        var initDurationMs: Double?
        var sandbox: (any SandboxInstance)?
        var server: RuntimeAPIServer?
        /// Where this environment's invocation deadlines are scheduled.
        var timerLoop: (any EventLoop)?
        /// A `GET /next` waiting for an invocation.
        var parkedNext: RuntimeAPIResponder?
        /// An invocation waiting for the runtime's `GET /next`.
        var pending: Assignment?
        /// The invocation the runtime holds.
        var current: Assignment?
        var initError: (body: Data, errorType: String)?
        var stopping = false
    }

    let id: String
    let key: EnvironmentKey
    let logStream: String
    let memoryMB: Int
    /// Its log stream (and the current invocation's tail).
    let log: EnvironmentLog
    var collector: OutputCollector { log.tail }
    /// When it last went back to its idle list; set and read only by the engine's actor (the eviction order).
    nonisolated(unsafe) var idleSince = ContinuousClock.now
    let logger: Logger
    let isProvidedRuntime: Bool
    let state = Mutex(State())
    let ready = Latch<Failure?>()
    private let stopped = Latch<Bool>()

    init(id: String, key: EnvironmentKey, logStream: String, memoryMB: Int, isProvidedRuntime: Bool, log: EnvironmentLog, logger: Logger) {
        self.id = id
        self.log = log
        self.key = key
        self.logStream = logStream
        self.memoryMB = memoryMB
        self.isProvidedRuntime = isProvidedRuntime
        var logger = logger
        logger[metadataKey: "environment"] = "\(id)"
        logger[metadataKey: "function"] = "\(key.function)"
        if let tenant = key.tenant { logger[metadataKey: "tenant"] = "\(tenant)" }
        self.logger = logger
    }

    var phase: Phase { state.withLock { $0.phase } }
    var initDurationMs: Double? { state.withLock { $0.initDurationMs } }
    /// Peak memory and the OOM state (as the runtime's exit left them, once it exited).
    var stats: SandboxStats? { state.withLock { $0.sandbox }?.stats() }

    // MARK: - Life

    /// Starts the sandbox, serves the Runtime API listener it hands over, then waits for init. Returns nil when
    /// the runtime is ready.
    func start(spec: SandboxSpec, backend: any SandboxBackend, group: any EventLoopGroup, initLimit: Duration) async -> Failure? {
        let started = ContinuousClock.now
        // Where a cold start's time goes: the sandbox spawned (bundle, crun run), the agent's listener handed
        // over (namespaces, cgroups, mounts, seccomp, agent), the runtime's first `next` (interpreter, runtime
        // client and handler imports). In the debug log, for tuning.
        let phases = InitPhases(started: started)
        let sandbox: any SandboxInstance
        do {
            let log = self.log
            log.initStart()
            sandbox = try await backend.start(spec) { stream, bytes in log.output(stream, bytes) }
            phases.mark("spawned")
        } catch {
            logger.error("environment failed to start", metadata: ["error": "\(error)"])
            state.withLock { transition(&$0, to: .retiring) }
            return .protocolViolation("the sandbox could not start: \(error)")
        }
        // The loop this environment's Runtime API and deadlines run on: the one creating it, which serves the
        // connection of the tenant that asked, so its later invocations likely stay on one thread.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        state.withLock {
            $0.timerLoop = loop
            $0.sandbox = sandbox
            transition(&$0, to: .initializing)
        }
        Task { [weak self] in
            // Unstructured on purpose: it lives as long as the sandbox, which outlives this call.
            let status = await sandbox.exit()
            self?.sandboxExited(status)
        }
        let ready = self.ready
        let logger = self.logger
        let serve: @Sendable () async -> Failure? = { [weak self] in
            do {
                let listener = try await sandbox.runtimeAPIListener()
                phases.mark("agent")
                let server = try await RuntimeAPIServer.start(listener: listener, group: loop) { [weak self] request, responder in
                    guard let self else {
                        return responder.respond(.json(500, RuntimeAPIContract.errorBody("ServiceException", "environment is gone")))
                    }
                    self.handle(request, responder: responder)
                }
                let keep = self?.state.withLock { state -> Bool in
                    guard !state.stopping else { return false }
                    state.server = server
                    return true
                } ?? false
                if !keep { await server.close() }
            } catch {
                logger.error("environment's Runtime API could not be served", metadata: ["error": "\(error)"])
                ready.fulfil(.protocolViolation("the sandbox's Runtime API could not be served: \(error)"))
            }
            return await ready.wait()
        }
        let outcome = await withTaskGroup(of: Failure??.self) { group in
            group.addTask { await serve() }
            group.addTask {
                try? await Task.sleep(for: initLimit)
                return Task.isCancelled ? nil : .some(.timedOut(seconds: Int(initLimit.components.seconds)))
            }
            var result: Failure? = nil
            if let first = await group.next(), let value = first { result = value }
            group.cancelAll()
            return result
        }
        let elapsed = ContinuousClock.now - started
        let initMs = elapsed.inMilliseconds
        state.withLock { $0.initDurationMs = initMs }
        switch outcome {
        case nil: log.initDone(durationMs: initMs, status: "success", errorType: nil)
        case .timedOut: log.initDone(durationMs: initMs, status: "timeout", errorType: nil)
        case let failure?: log.initDone(durationMs: initMs, status: "error", errorType: Self.outcome(for: failure, oomKilled: false).errorType)
        }
        if let outcome {
            ready.fulfil(outcome)
            state.withLock { transition(&$0, to: .retiring) }
            return outcome
        }
        phases.mark("runtime")
        logger.debug("environment ready", metadata: ["init_ms": "\(DecimalText.twoDecimals(initMs))", "phases_ms": "\(phases.summary)"])
        return nil
    }

    /// What an invocation's caller needs back from the environment.
    struct Report: Sendable {
        var outcome: InvocationOutcome
        var duration: Duration
        /// Peak memory of the environment, read only when the caller asked for the log tail (its REPORT line).
        var maxMemoryBytes: Int
        /// Still able to serve (idle), or on its way out.
        var reusable: Bool
    }

    /// Whether the engine may hand this environment an invocation now: idle, and used within `keepAlive`.
    func isUsable(keepAlive: Duration) -> Bool {
        state.withLock { $0.phase == .idle && ContinuousClock.now - $0.lastUsed <= keepAlive }
    }

    /// Runs one invocation; the environment must be idle (the engine guarantees it). Runs on its caller's
    /// executor: nothing here needs another.
    /// `budget`: how long the invocation may run (the timeout, less an init that ran in the invoke phase);
    /// `timeoutSeconds` is what the timeout message says.
    nonisolated(nonsending) func invoke(_ input: InvocationInput, timeoutSeconds: Int, budget: Duration? = nil) async -> Report {
        let started = ContinuousClock.now
        let outcome = await run(input, timeoutSeconds: timeoutSeconds, budget: max(.zero, budget ?? .seconds(timeoutSeconds)))
        var maxMemoryBytes = 0
        if input.tailLogs {
            // What the function printed before it answered must be in its log tail, however late the pipes are read.
            let sandbox = state.withLock { $0.sandbox }
            await sandbox?.flushOutput()
            maxMemoryBytes = stats?.memoryPeakBytes ?? 0
        }
        return Report(outcome: outcome, duration: ContinuousClock.now - started, maxMemoryBytes: maxMemoryBytes, reusable: phase == .idle)
    }

    private nonisolated(nonsending) func run(_ input: InvocationInput, timeoutSeconds: Int, budget: Duration) async -> InvocationOutcome {
        _ = collector.take()
        let budgetSeconds = budget.inSeconds
        let assignment = Assignment(input: input, deadline: Date().addingTimeInterval(budgetSeconds), latch: Latch())
        let event = Self.eventResponse(assignment)
        let taken: (accepted: Bool, parked: RuntimeAPIResponder?, timerLoop: (any EventLoop)?) = state.withLock {
            guard $0.phase == .idle else { return (false, nil, nil) }
            transition(&$0, to: .busy)
            $0.lastUsed = .now
            if let parked = $0.parkedNext {
                $0.parkedNext = nil
                $0.current = assignment
                return (true, parked, $0.timerLoop)
            }
            $0.pending = assignment
            return (true, nil, $0.timerLoop)
        }
        guard taken.accepted else {
            return .platformError(errorType: "Runtime.Unknown", message: "environment not ready (\(phase.rawValue))")
        }
        log.start(requestId: input.requestId)
        taken.parked?.respond(event)
        // The deadline is a timer on an event loop rather than a racing task: the invoke path creates no tasks.
        let latch = assignment.latch
        // On the loop this task runs on when there is one: a timer set on another thread wakes that thread twice.
        let timerLoop = MultiThreadedEventLoopGroup.currentEventLoop ?? taken.timerLoop
        let timer = timerLoop?.scheduleTask(in: .nanoseconds(Int64(budgetSeconds * 1e9))) {
            latch.fulfil(Self.outcome(for: .timedOut(seconds: timeoutSeconds), oomKilled: false))
        }
        let outcome = await latch.wait()
        timer?.cancel()
        state.withLock {
            $0.lastUsed = .now
            switch outcome {
            case .platformError, .undelivered, .error(_, errorType: "Function.ResponseSizeTooLarge"):
                // Reset, as AWS does after a timeout or crash; a refused oversized response leaves awslambdaric dead too.
                transition(&$0, to: .retiring)
            case .response, .error:
                if $0.phase == .busy { transition(&$0, to: .idle) }
            }
        }
        return outcome
    }

    func markRetiring() {
        state.withLock { if $0.phase != .gone { transition(&$0, to: .retiring) } }
    }

    /// Kills the sandbox and removes its socket; waits until everything is gone. Safe to call twice.
    func stop() async {
        let first = state.withLock {
            guard !$0.stopping else { return false }
            $0.stopping = true
            if $0.phase != .gone { transition(&$0, to: .retiring) }
            return true
        }
        guard first else {
            _ = await stopped.wait()
            return
        }
        let (parked, current, sandbox, server) = state.withLock { state in
            defer { state.parkedNext = nil }
            return (state.parkedNext, state.current, state.sandbox, state.server)
        }
        parked?.respond(.json(500, RuntimeAPIContract.errorBody("ServiceException", "environment shutting down")))
        current?.latch.fulfil(.platformError(errorType: "Runtime.ExitError", message: "Runtime exited without providing a reason"))
        await sandbox?.stop()
        await server?.close()
        state.withLock { transition(&$0, to: .gone) }
        stopped.fulfil(true)
    }

    // MARK: - Sandbox exit

    private func sandboxExited(_ status: SandboxExit) {
        let failure: Failure
        let (parked, current, pending, phase, initError) = state.withLock { state in
            defer { state.parkedNext = nil }
            return (state.parkedNext, state.current, state.pending, state.phase, state.initError)
        }
        if let initError, phase == .initializing {
            failure = .initError(body: initError.body, errorType: initError.errorType)
        } else if phase == .initializing, isProvidedRuntime, status == .exited(127) {
            failure = .invalidEntrypoint
        } else {
            failure = .exited(status)
        }
        ready.fulfil(failure)
        parked?.respond(.json(500, RuntimeAPIContract.errorBody("ServiceException", "runtime exited")))
        current?.latch.fulfil(Self.outcome(for: failure, oomKilled: stats?.oomKilled ?? false))
        pending?.latch.fulfil(.undelivered)
        state.withLock { if $0.phase != .gone { transition(&$0, to: .retiring) } }
        logger.debug("runtime exited", metadata: ["status": "\(status)"])
    }

    /// The outcome an invocation gets when its environment failed.
    static func outcome(for failure: Failure, oomKilled: Bool) -> InvocationOutcome {
        switch failure {
        case .initError(let body, let type): return .error(body, errorType: type)
        case .invalidEntrypoint:
            return .platformError(errorType: "Runtime.InvalidEntrypoint", message: "fork/exec /var/task/bootstrap: no such file or directory")
        case .exited(let status):
            if oomKilled { return .platformError(errorType: "Runtime.OutOfMemory", message: "Runtime exited with error: \(status)") }
            if status == .exited(0) { return .platformError(errorType: "Runtime.ExitError", message: "Runtime exited without providing a reason") }
            return .platformError(errorType: "Runtime.ExitError", message: "Runtime exited with error: \(status)")
        case .timedOut(let seconds):
            return .platformError(errorType: "Sandbox.Timedout", message: "Task timed out after \(String(format: "%.2f", Double(seconds))) seconds")
        case .protocolViolation(let detail):
            return .platformError(errorType: "Runtime.Unknown", message: detail)
        }
    }

    /// The one place the phase changes; called with the lock held.
    func transition(_ state: inout State, to next: Phase) {
        let allowed: Bool = switch (state.phase, next) {
        case (.creating, .initializing), (.initializing, .idle), (.idle, .busy), (.busy, .idle): true
        case (_, .retiring) where state.phase != .gone: true
        case (.retiring, .gone), (.creating, .gone), (.gone, .gone): true
        default: false
        }
        if !allowed { logger.warning("unexpected environment transition", metadata: ["from": "\(state.phase.rawValue)", "to": "\(next.rawValue)"]) }
        state.phase = next
    }
}

/// Timestamps of a cold start's phases, as milliseconds since it began.
final class InitPhases: Sendable {
    let started: ContinuousClock.Instant
    private let marks = Mutex<[(String, Double)]>([])

    init(started: ContinuousClock.Instant) { self.started = started }

    func mark(_ name: String) {
        let ms = (ContinuousClock.now - started).inMilliseconds
        marks.withLock { $0.append((name, ms)) }
    }

    /// `spawned=3.10 agent=21.40 runtime=44.90`
    var summary: String { marks.withLock { $0.map { "\($0.0)=\(DecimalText.twoDecimals($0.1))" }.joined(separator: " ") } }
}

/// X-Ray-style trace ids for `Lambda-Runtime-Trace-Id` (runtimes copy it into `_X_AMZN_TRACE_ID`).
enum TraceID {
    /// 160 random bits from the shared block of kernel randomness (no system call per draw).
    static func make() -> String {
        let source = RandomBytes.shared
        let a = source.next(), b = source.next(), c = source.next()
        let time = String(UInt64(Date().timeIntervalSince1970), radix: 16)
        let random = hex(a, digits: 16) + hex(b >> 32, digits: 8)
        return "Root=1-\(time)-\(random);Parent=\(hex(c, digits: 16));Sampled=0"
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
