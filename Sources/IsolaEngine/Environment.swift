import Foundation
import NIOCore
import IsolaSandbox
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
actor Environment {
    enum Phase: String, Sendable { case creating, initializing, idle, busy, retiring, gone }

    /// Why a runtime request or the platform ended an environment's usefulness.
    enum Failure: Sendable, Equatable {
        case initError(body: Data, errorType: String)
        case exited(SandboxExit)
        case invalidEntrypoint
        case timedOut(seconds: Int)
        case protocolViolation(String)
    }

    let id: String
    let key: EnvironmentKey
    let logStream: String
    let memoryMB: Int
    let collector = OutputCollector()
    /// When it last went back to its idle list; set and read only by the engine's actor (the eviction order).
    nonisolated(unsafe) var idleSince = ContinuousClock.now
    private let logger: Logger
    private(set) var phase: Phase = .creating
    private(set) var lastUsed: ContinuousClock.Instant = .now
    private(set) var initDurationMs: Double?
    private var sandbox: (any SandboxInstance)?
    private var server: RuntimeAPIServer?
    /// Where this environment's invocation deadlines are scheduled.
    private var timerLoop: (any EventLoop)?
    private let ready = Latch<Failure?>()
    private var parkedNext: CheckedContinuation<RuntimeAPIResponse, Never>?
    private var pending: Assignment?
    private var current: Assignment?
    private var initError: (body: Data, errorType: String)?
    private var exit: SandboxExit?
    /// Counters read when the agent reported the runtime's exit, before the sandbox's cgroup was removed.
    private var statsAtExit: SandboxStats?
    private let isProvidedRuntime: Bool
    private let stopped = Latch<Bool>()
    private var stopping = false

    struct Assignment: Sendable {
        var input: InvocationInput
        var deadline: Date
        var latch: Latch<InvocationOutcome>
    }

    init(id: String, key: EnvironmentKey, logStream: String, memoryMB: Int, isProvidedRuntime: Bool, logger: Logger) {
        self.id = id
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

    // MARK: - Life

    /// Starts the Runtime API socket and the sandbox, then waits for init. Returns nil when the runtime is ready.
    func start(spec: SandboxSpec, backend: any SandboxBackend, socketPath: String, group: any EventLoopGroup, initLimit: Duration) async -> Failure? {
        let started = ContinuousClock.now
        timerLoop = group.next()
        do {
            server = try await RuntimeAPIServer.start(path: socketPath, group: group) { [weak self] request in
                guard let self else { return .json(500, RuntimeAPIContract.errorBody("ServiceException", "environment is gone")) }
                return await self.handle(request)
            }
            let collector = self.collector
            let sandbox = try await backend.start(spec) { _, bytes in collector.append(bytes) }
            self.sandbox = sandbox
            transition(to: .initializing)
            Task { [weak self] in
                // Unstructured on purpose: it lives as long as the sandbox, which outlives this call.
                let status = await sandbox.exit()
                await self?.sandboxExited(status)
            }
        } catch {
            logger.error("environment failed to start", metadata: ["error": "\(error)"])
            transition(to: .retiring)
            return .protocolViolation("the sandbox could not start: \(error)")
        }
        let outcome = await withTaskGroup(of: Failure??.self) { group in
            group.addTask { await self.ready.wait() }
            group.addTask {
                try? await Task.sleep(for: initLimit)
                return Task.isCancelled ? nil : .some(.timedOut(seconds: Int(initLimit.components.seconds)))
            }
            var result: Failure? = nil
            if let first = await group.next(), let value = first { result = value }
            group.cancelAll()
            return result
        }
        initDurationMs = Double((ContinuousClock.now - started).components.attoseconds) / 1e15 + Double((ContinuousClock.now - started).components.seconds) * 1000
        if let outcome {
            ready.fulfil(outcome)
            transition(to: .retiring)
            return outcome
        }
        logger.debug("environment ready", metadata: ["init_ms": "\(String(format: "%.1f", initDurationMs ?? 0))"])
        return nil
    }

    /// Runs one invocation; the environment must be idle (the engine guarantees it).
    /// What an invocation's caller needs back from the environment, in one hop.
    struct Report: Sendable {
        var outcome: InvocationOutcome
        var duration: Duration
        var maxMemoryBytes: Int
        /// Still able to serve (idle), or on its way out.
        var reusable: Bool
    }

    /// Whether the engine may hand this environment an invocation now: idle, and used within `keepAlive`.
    func isUsable(keepAlive: Duration) -> Bool {
        phase == .idle && ContinuousClock.now - lastUsed <= keepAlive
    }

    func invoke(_ input: InvocationInput, timeoutSeconds: Int) async -> Report {
        let started = ContinuousClock.now
        let outcome = await run(input, timeoutSeconds: timeoutSeconds)
        // What the function printed before it answered must be in its log tail, however late the pipes are read.
        if input.tailLogs { await sandbox?.flushOutput() }
        return Report(outcome: outcome, duration: ContinuousClock.now - started, maxMemoryBytes: stats?.memoryPeakBytes ?? 0, reusable: phase == .idle)
    }

    private func run(_ input: InvocationInput, timeoutSeconds: Int) async -> InvocationOutcome {
        guard phase == .idle else {
            return .platformError(errorType: "Runtime.Unknown", message: "environment not ready (\(phase.rawValue))")
        }
        transition(to: .busy)
        lastUsed = .now
        _ = collector.take()
        let assignment = Assignment(input: input, deadline: Date().addingTimeInterval(Double(timeoutSeconds)), latch: Latch())
        if let parked = parkedNext {
            parkedNext = nil
            current = assignment
            parked.resume(returning: eventResponse(assignment))
        } else {
            pending = assignment
        }
        let timeout = InvocationOutcome.platformError(errorType: "Sandbox.Timedout", message: "Task timed out after \(String(format: "%.2f", Double(timeoutSeconds))) seconds")
        // The deadline is a timer on an event loop rather than a racing task: the invoke path creates no tasks.
        let latch = assignment.latch
        let timer = timerLoop?.scheduleTask(in: .seconds(Int64(timeoutSeconds))) { latch.fulfil(timeout) }
        let outcome = await latch.wait()
        timer?.cancel()
        lastUsed = .now
        switch outcome {
        case .platformError, .undelivered, .error(_, errorType: "Function.ResponseSizeTooLarge"):
            // Reset, as AWS does after a timeout or crash; a refused oversized response leaves awslambdaric dead too.
            transition(to: .retiring)
        case .response, .error:
            if phase == .busy { transition(to: .idle) }
        }
        return outcome
    }

    func markRetiring() {
        if phase != .gone { transition(to: .retiring) }
    }

    /// Kills the sandbox and removes its socket; waits until everything is gone. Safe to call twice.
    func stop() async {
        if stopping {
            _ = await stopped.wait()
            return
        }
        stopping = true
        if phase != .gone { transition(to: .retiring) }
        parkedNext?.resume(returning: .json(500, RuntimeAPIContract.errorBody("ServiceException", "environment shutting down")))
        parkedNext = nil
        current?.latch.fulfil(.platformError(errorType: "Runtime.ExitError", message: "Runtime exited without providing a reason"))
        await sandbox?.stop()
        await server?.close()
        transition(to: .gone)
        stopped.fulfil(true)
    }

    var stats: SandboxStats? { statsAtExit ?? sandbox?.stats() }

    // MARK: - Runtime API

    func handle(_ request: RuntimeAPIRequest) async -> RuntimeAPIResponse {
        let path = request.path.split(separator: "?").first.map(String.init) ?? request.path
        switch (request.method, path) {
        case ("GET", RuntimeAPIContract.nextPath):
            return await next()
        case ("POST", RuntimeAPIContract.agentExitPath):
            // The agent reports its runtime's exit before it exits itself, while the cgroup still exists: the
            // moment to read the OOM state and peak memory. (A runtime could call this too; it only makes the
            // host read its own environment's counters early.)
            statsAtExit = sandbox?.stats()
            return .json(200, RuntimeAPIContract.accepted)
        case ("POST", RuntimeAPIContract.initErrorPath):
            guard phase == .initializing else { return .json(403, RuntimeAPIContract.invalidStateTransition) }
            let type = RuntimeAPIContract.validErrorType(request.headers["lambda-runtime-function-error-type"]) ?? "Runtime.Unknown"
            initError = (Data(request.body), type)
            return .json(202, RuntimeAPIContract.accepted)
        case ("POST", _) where path.hasPrefix("\(RuntimeAPIContract.prefix)/invocation/"):
            let parts = path.dropFirst(RuntimeAPIContract.prefix.count + "/invocation/".count).split(separator: "/")
            guard parts.count == 2, parts[1] == "response" || parts[1] == "error" else { break }
            return post(requestId: String(parts[0]), isError: parts[1] == "error", request: request)
        default:
            break
        }
        return .json(404, RuntimeAPIContract.errorBody("NotFound", "No Runtime API route for \(request.method) \(path)"))
    }

    private func next() async -> RuntimeAPIResponse {
        switch phase {
        case .initializing:
            transition(to: .idle)
            ready.fulfil(nil)
        case .busy, .idle:
            if let current, !current.latch.isFulfilled {
                // Asked for the next event before answering this one: the invocation fails, the environment goes.
                current.latch.fulfil(.platformError(errorType: "Runtime.InvalidStateTransition", message: "Runtime asked for the next invocation before answering this one"))
                return .json(403, RuntimeAPIContract.invalidStateTransition)
            }
            current = nil
        default:
            return .json(403, RuntimeAPIContract.invalidStateTransition)
        }
        if let pending {
            self.pending = nil
            current = pending
            return eventResponse(pending)
        }
        if parkedNext != nil { return .json(403, RuntimeAPIContract.invalidStateTransition) }
        return await withCheckedContinuation { parkedNext = $0 }
    }

    private func post(requestId: String, isError: Bool, request: RuntimeAPIRequest) -> RuntimeAPIResponse {
        guard let current, current.input.requestId == requestId else { return .json(400, RuntimeAPIContract.invalidRequestId) }
        guard !current.latch.isFulfilled else { return .json(403, RuntimeAPIContract.invalidStateTransition) }
        if request.bodyTooLarge {
            current.latch.fulfil(.error(
                Data(#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (\#(RuntimeAPIContract.maxPayloadBytes) bytes).","errorType":"Function.ResponseSizeTooLarge"}"#.utf8),
                errorType: "Function.ResponseSizeTooLarge"
            ))
            return .json(413, RuntimeAPIContract.payloadTooLarge)
        }
        let body = Data(request.body)
        if isError {
            let declared = RuntimeAPIContract.validErrorType(request.headers["lambda-runtime-function-error-type"])
            let bodyType = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["errorType"] as? String
            current.latch.fulfil(.error(body, errorType: declared ?? bodyType ?? "Function.Unknown"))
        } else {
            current.latch.fulfil(.response(body, contentType: request.headers["content-type"] ?? "application/json"))
        }
        return .json(202, RuntimeAPIContract.accepted)
    }

    private func eventResponse(_ assignment: Assignment) -> RuntimeAPIResponse {
        let input = assignment.input
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"),
            (RuntimeAPIContract.Header.requestId, input.requestId),
            (RuntimeAPIContract.Header.deadline, String(Int64(assignment.deadline.timeIntervalSince1970 * 1000))),
            (RuntimeAPIContract.Header.functionArn, input.functionArn),
            (RuntimeAPIContract.Header.traceId, TraceID.make()),
        ]
        if let context = input.clientContext { headers.append((RuntimeAPIContract.Header.clientContext, context)) }
        if let tenant = input.tenantId { headers.append((RuntimeAPIContract.Header.tenantId, tenant)) }
        return RuntimeAPIResponse(status: 200, headers: headers, body: Array(input.payload))
    }

    // MARK: - Sandbox exit

    private func sandboxExited(_ status: SandboxExit) {
        exit = status
        let failure: Failure
        if let initError, phase == .initializing {
            failure = .initError(body: initError.body, errorType: initError.errorType)
        } else if phase == .initializing, isProvidedRuntime, status == .exited(127) {
            failure = .invalidEntrypoint
        } else {
            failure = .exited(status)
        }
        ready.fulfil(failure)
        parkedNext?.resume(returning: .json(500, RuntimeAPIContract.errorBody("ServiceException", "runtime exited")))
        parkedNext = nil
        let outcome = Self.outcome(for: failure, oomKilled: stats?.oomKilled ?? false)
        current?.latch.fulfil(outcome)
        pending?.latch.fulfil(.undelivered)
        if phase != .gone { transition(to: .retiring) }
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

    private func transition(to next: Phase) {
        let allowed: Bool = switch (phase, next) {
        case (.creating, .initializing), (.initializing, .idle), (.idle, .busy), (.busy, .idle): true
        case (_, .retiring) where phase != .gone: true
        case (.retiring, .gone), (.creating, .gone), (.gone, .gone): true
        default: false
        }
        if !allowed { logger.warning("unexpected environment transition", metadata: ["from": "\(phase.rawValue)", "to": "\(next.rawValue)"]) }
        phase = next
    }
}

/// X-Ray-style trace ids for `Lambda-Runtime-Trace-Id` (runtimes copy it into `_X_AMZN_TRACE_ID`).
enum TraceID {
    /// One draw of 160 random bits (each `random(in:)` call is a getrandom(2) system call on Linux).
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64, b = generator.next() as UInt64, c = generator.next() as UInt64
        let time = String(UInt64(Date().timeIntervalSince1970), radix: 16)
        let random = hex(a, digits: 16) + hex(b >> 32, digits: 8)
        return "Root=1-\(time)-\(random);Parent=\(hex(c, digits: 16));Sampled=0"
    }

    static func hex(_ value: UInt64, digits: Int) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
