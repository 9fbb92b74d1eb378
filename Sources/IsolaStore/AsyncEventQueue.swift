import Foundation

/// An asynchronous invocation (`X-Amz-Invocation-Type: Event`) waiting for its next attempt. It is committed
/// before the caller gets 202, and leaves the queue only when it succeeded or was recorded as failed.
public struct QueuedEvent: Sendable, Equatable {
    /// The request id the caller got back (`x-amzn-RequestId`); the runtime sees it as the invocation's id.
    public var id: String
    public var functionName: String
    /// As invoked: `$LATEST`, a version or an alias; resolved again at every attempt.
    public var qualifier: String
    public var tenantId: String?
    public var payload: Data
    public var enqueuedAt: Date
    /// Attempts started so far. An attempt is counted (committed) before it starts, so one interrupted by a
    /// crash is not started again under the same number.
    public var attempts: Int
    /// Not to be attempted before this moment (retry backoff).
    public var notBefore: Date
    /// The errorType of the last failed attempt.
    public var lastErrorType: String?

    public init(id: String, functionName: String, qualifier: String, tenantId: String?, payload: Data, enqueuedAt: Date, attempts: Int = 0, notBefore: Date? = nil, lastErrorType: String? = nil) {
        self.id = id
        self.functionName = functionName
        self.qualifier = qualifier
        self.tenantId = tenantId
        self.payload = payload
        self.enqueuedAt = enqueuedAt
        self.attempts = attempts
        self.notBefore = notBefore ?? enqueuedAt
        self.lastErrorType = lastErrorType
    }
}

/// An event that ran out of attempts or age, or whose function went away: kept for the operator, never dropped.
public struct FailedEvent: Sendable, Equatable {
    public var event: QueuedEvent
    public var failedAt: Date
    /// `RetriesExhausted`, `EventAgeExceeded` or `FunctionNotFound`.
    public var reason: String

    public init(event: QueuedEvent, failedAt: Date, reason: String) {
        self.event = event
        self.failedAt = failedAt
        self.reason = reason
    }
}

/// The durable queue of asynchronous invocations, behind a small protocol like the function store (SQLite by
/// default; a shared database when several hosts serve one queue).
public protocol AsyncEventQueue: Sendable {
    /// Commits the event; returns once it is durable.
    func enqueue(_ event: QueuedEvent) async throws
    /// Events whose `notBefore` has come, oldest first, leaving out `excluding` (those being attempted).
    func due(at now: Date, limit: Int, excluding: Set<String>) async throws -> [QueuedEvent]
    /// The earliest `notBefore` of any queued event.
    func nextDue() async throws -> Date?
    /// Records an attempt, a backoff or an error (attempts, notBefore, lastErrorType).
    func update(_ event: QueuedEvent) async throws
    /// Removes a delivered event.
    func remove(_ id: String) async throws
    /// Moves the event to the failed records, in one transaction.
    func fail(_ event: QueuedEvent, reason: String, at: Date) async throws
    /// Failed events, newest first, of one function or all.
    func failedEvents(function: String?, limit: Int) async throws -> [FailedEvent]
    func queuedCount() async throws -> Int
}
