import Foundation

/// One log event as stored: CloudWatch's shape (milliseconds since the epoch, a message).
public struct LogEvent: Sendable, Equatable {
    public var group: String
    public var stream: String
    public var timestamp: Int64
    public var message: String
    /// The tenant whose environment wrote the stream (Isola's; CloudWatch has no such field). Recorded with the
    /// stream's first event.
    public var tenant: String?
    /// Assigned by the store: the order events were ingested in, and the base of pagination tokens.
    public var id: Int64 = 0
    public var ingestionTime: Int64 = 0

    public init(group: String, stream: String, timestamp: Int64, message: String, tenant: String? = nil) {
        self.group = group
        self.stream = stream
        self.timestamp = timestamp
        self.message = message
        self.tenant = tenant
    }
}

public struct LogGroupRecord: Sendable, Equatable {
    public var name: String
    public var creationTime: Int64
    public var retentionInDays: Int?
    public var storedBytes: Int64
}

public struct LogStreamRecord: Sendable, Equatable {
    public var group: String
    public var name: String
    public var creationTime: Int64
    public var firstEventTimestamp: Int64?
    public var lastEventTimestamp: Int64?
    public var lastIngestionTime: Int64?
    public var storedBytes: Int64
    public var tenant: String?
}

/// A page of events and where the next one starts (nil: no more).
public struct LogEventPage: Sendable {
    public var events: [LogEvent]
    public var next: Int64?
    public var searchedStreams: [String] = []
}

/// Where log events live, behind a small protocol (SQLite by default; a shared database when several hosts serve
/// one account). Errors are `LogsError`, in the Logs service's words.
public protocol LogStore: Sendable {
    func createGroup(_ name: String, now: Int64) async throws
    /// Creates the group unless it exists (Lambda creates a function's group on its first write).
    func ensureGroup(_ name: String, now: Int64) async throws
    func deleteGroup(_ name: String) async throws
    func setRetention(_ group: String, days: Int?) async throws
    /// Groups by name, after `after`, at most `limit` (+1 to tell whether more follow).
    func groups(prefix: String?, after: String?, limit: Int) async throws -> [LogGroupRecord]
    func group(_ name: String) async throws -> LogGroupRecord?
    /// Appends events; creates their groups and streams as needed.
    func append(_ events: [LogEvent], now: Int64) async throws
    func streams(group: String, prefix: String?, orderByLastEvent: Bool, descending: Bool, offset: Int, limit: Int) async throws -> [LogStreamRecord]
    /// One stream's events within [start, end), forward from `after` id or backward from `before` id.
    func events(group: String, stream: String, start: Int64?, end: Int64?, after: Int64?, before: Int64?, fromHead: Bool, limit: Int) async throws -> [LogEvent]
    /// Events of a group in (timestamp, id) order from the position `after`, in the given streams (nil: all) and
    /// time range, for which `keep` holds; stops after `limit` matches or `scanLimit` scanned events.
    func filter(group: String, streams: [String]?, streamPrefix: String?, tenant: String?, start: Int64?, end: Int64?, after: Int64?, limit: Int, scanLimit: Int, keep: @Sendable (LogEvent) -> Bool) async throws -> LogEventPage
    /// Deletes events older than each group's retention, and older than `maximumAgeDays` everywhere.
    func enforceRetention(now: Int64, maximumAgeDays: Int) async throws -> Int
}

/// The Logs service's errors (JSON 1.1: `{"__type": ..., "message": ...}`, HTTP 400).
public struct LogsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var type: String
    public var message: String
    public var status: Int

    public init(_ type: String, _ message: String, status: Int = 400) {
        self.type = type
        self.message = message
        self.status = status
    }

    public var description: String { "\(type): \(message)" }

    public static let groupNotFound = LogsError("ResourceNotFoundException", "The specified log group does not exist.")
    public static let streamNotFound = LogsError("ResourceNotFoundException", "The specified log stream does not exist.")
    public static let groupExists = LogsError("ResourceAlreadyExistsException", "The specified log group already exists")

    public static func invalidParameter(_ message: String) -> LogsError { LogsError("InvalidParameterException", message) }
}
