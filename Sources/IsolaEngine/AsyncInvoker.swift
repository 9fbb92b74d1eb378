import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Logging

/// How asynchronous invocations are attempted.
public struct AsyncConfiguration: Sendable {
    /// Wait before the first retry after a function error; it doubles for each later one (Lambda: 1 minute,
    /// then 2). `--event-retry-delay`.
    public var retryDelay: Duration = .seconds(60)
    /// Wait after a throttle (429) before trying again; throttled tries are not attempts, as on AWS, and go on
    /// until the event is older than its MaximumEventAgeInSeconds.
    public var throttleDelay: Duration = .seconds(1)
    /// Events attempted at once, across all functions.
    public var maxConcurrentAttempts = 16
    /// How often the queue is read for events whose backoff ended (a new event starts at once).
    public var pollInterval: Duration = .milliseconds(250)
    /// How long a graceful shutdown waits for attempts in progress before the engine stops their environments.
    public var drainTimeout: Duration = .seconds(10)

    public init() {}
}

/// Delivers asynchronous invocations (`X-Amz-Invocation-Type: Event`) from the durable queue to the engine.
///
/// An event is committed before the caller gets 202. Each attempt is counted in the store *before* it starts, so
/// an attempt cut short by a crash is never started again under the same number: after a restart the event gets
/// its next attempt, or, with none left, a failure record. A function error is retried after `retryDelay`
/// (doubling) up to the qualifier's MaximumRetryAttempts; an event older than MaximumEventAgeInSeconds, out of
/// attempts, or whose function is gone is moved to the failed records (the API and the server log show them).
public actor AsyncInvoker {
    let queue: any AsyncEventQueue
    let controlPlane: ControlPlane
    let engine: Engine
    let configuration: AsyncConfiguration
    let now: @Sendable () -> Date
    let logger: Logger
    private var attempts: [String: Task<Void, Never>] = [:]
    /// The LastErrorType of an event whose last attempt a crash or restart cut short.
    public static let interrupted = "Isola.AttemptInterrupted"
    private var stopping = false

    public init(queue: any AsyncEventQueue, controlPlane: ControlPlane, engine: Engine, configuration: AsyncConfiguration = AsyncConfiguration(), now: @escaping @Sendable () -> Date = Date.init, logger: Logger) {
        self.queue = queue
        self.controlPlane = controlPlane
        self.engine = engine
        self.configuration = configuration
        self.now = now
        self.logger = logger
    }

    /// Commits the event and returns once it is durable (the 202 may go out); it starts at once if there is room.
    public func submit(_ event: QueuedEvent) async throws {
        try await queue.enqueue(event)
        // Not awaited: the caller's 202 does not wait for the queue to be read again.
        Task { await self.startDue() }
    }

    /// Attempts due events until cancelled (graceful shutdown), then waits up to `drainTimeout` for those in progress.
    public func run() async {
        while !Task.isCancelled {
            await startDue()
            try? await Task.sleep(for: configuration.pollInterval)
        }
        stopping = true
        let running = Array(attempts.values)
        guard !running.isEmpty else { return }
        logger.notice("waiting for asynchronous invocations in progress", metadata: ["count": "\(running.count)"])
        // Detached: this task is cancelled (that is how shutdown arrives), and the wait must not be.
        let timeout = configuration.drainTimeout
        await Task.detached {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for attempt in running { await attempt.value } }
                group.addTask { try? await Task.sleep(for: timeout) }
                await group.next()
                group.cancelAll()
            }
        }.value
    }

    /// Events in the queue (waiting or in progress).
    public func queuedCount() async -> Int { (try? await queue.queuedCount()) ?? 0 }

    private func startDue() async {
        guard !stopping else { return }
        let room = configuration.maxConcurrentAttempts - attempts.count
        guard room > 0 else { return }
        let due: [QueuedEvent]
        do {
            due = try await queue.due(at: now(), limit: room, excluding: Set(attempts.keys))
        } catch {
            logger.error("cannot read the asynchronous invocation queue", metadata: ["error": "\(error)"])
            return
        }
        // Re-checked after the await: another call may have started some of them meanwhile.
        for event in due where attempts[event.id] == nil && attempts.count < configuration.maxConcurrentAttempts && !stopping {
            attempts[event.id] = Task {
                await self.attempt(event)
                await self.finished(event.id)
            }
        }
    }

    private func finished(_ id: String) async {
        attempts[id] = nil
        await startDue()
    }

    /// One attempt of one event, and what the queue records of it.
    private func attempt(_ queued: QueuedEvent) async {
        var event = queued
        let resolved: ResolvedFunction
        do {
            resolved = try await controlPlane.resolve(FunctionReference(name: event.functionName, qualifier: event.qualifier))
        } catch let error as LambdaError where error.code == .resourceNotFound {
            return await fail(event, reason: "FunctionNotFound", detail: error.message)
        } catch {
            return await reschedule(&event, after: configuration.throttleDelay, uncount: false, errorType: "ServiceException")
        }
        let policy = (try? await controlPlane.asyncPolicy(function: event.functionName, qualifier: event.qualifier)) ?? .defaults
        if now().timeIntervalSince(event.enqueuedAt) > Double(policy.maximumEventAgeInSeconds) {
            return await fail(event, reason: "EventAgeExceeded", detail: "older than MaximumEventAgeInSeconds (\(policy.maximumEventAgeInSeconds))")
        }
        if event.attempts > policy.maximumRetryAttempts {
            // Its attempts were used up, the last one cut short by a restart (a finished one is never left here).
            event.lastErrorType = Self.interrupted
            return await fail(event, reason: "RetriesExhausted", detail: "\(event.attempts) attempts, the last cut short by a server restart")
        }
        event.attempts += 1
        do {
            try await queue.update(event)
        } catch {
            logger.error("cannot record an asynchronous attempt; trying later", metadata: ["request_id": "\(event.id)", "error": "\(error)"])
            return
        }
        let input = InvocationInput(
            requestId: event.id, functionArn: controlPlane.arns.function(event.functionName, qualifier: event.qualifier),
            payload: event.payload, tenantId: event.tenantId, clientContext: nil, tailLogs: false
        )
        do {
            let result = try await engine.invoke(resolved, input: input)
            switch result.kind {
            case .success:
                try? await queue.remove(event.id)
                logger.debug("asynchronous invocation delivered", metadata: metadata(event))
            case .functionError(let errorType):
                event.lastErrorType = errorType
                guard event.attempts <= policy.maximumRetryAttempts else {
                    return await fail(event, reason: "RetriesExhausted", detail: "\(event.attempts) attempts, the last ended with \(errorType)")
                }
                let delay = configuration.retryDelay * (1 << (event.attempts - 1))
                await reschedule(&event, after: delay, uncount: false, errorType: errorType)
            }
        } catch let error as LambdaError where error.code == .tooManyRequests {
            await reschedule(&event, after: configuration.throttleDelay, uncount: true, errorType: "TooManyRequestsException")
        } catch {
            // The engine refused before running anything (shutting down): not an attempt.
            await reschedule(&event, after: configuration.throttleDelay, uncount: true, errorType: "ServiceException")
        }
    }

    /// Sets the event's next try. `uncount`: this try never ran the function (throttled, or the engine was
    /// stopping), so the attempt recorded for it is taken back.
    private func reschedule(_ event: inout QueuedEvent, after delay: Duration, uncount: Bool, errorType: String) async {
        if uncount { event.attempts = max(0, event.attempts - 1) }
        event.lastErrorType = errorType
        event.notBefore = now().addingTimeInterval(delay.inSeconds)
        do {
            try await queue.update(event)
        } catch {
            logger.error("cannot reschedule an asynchronous invocation", metadata: ["request_id": "\(event.id)", "error": "\(error)"])
        }
    }

    private func fail(_ event: QueuedEvent, reason: String, detail: String) async {
        do {
            try await queue.fail(event, reason: reason, at: now())
            var details = metadata(event)
            details["reason"] = "\(reason)"
            details["detail"] = "\(detail)"
            logger.warning("asynchronous invocation failed for good; recorded (isola failed-events)", metadata: details)
        } catch {
            logger.error("cannot record a failed asynchronous invocation", metadata: ["request_id": "\(event.id)", "error": "\(error)"])
        }
    }

    private func metadata(_ event: QueuedEvent) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "request_id": "\(event.id)", "function": "\(event.functionName)", "qualifier": "\(event.qualifier)", "attempts": "\(event.attempts)",
        ]
        if let tenant = event.tenantId { metadata["tenant"] = "\(tenant)" }
        if let error = event.lastErrorType { metadata["last_error"] = "\(error)" }
        return metadata
    }
}
