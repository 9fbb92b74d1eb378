import Foundation

/// The CloudWatch Logs API (JSON 1.1, `X-Amz-Target: Logs_20140328.<Operation>`) over a `LogStore`: what
/// `aws logs` and boto3's `logs` client call. Requests and answers are JSON objects with camelCase members.
public struct LogsService: Sendable {
    public static let targetPrefix = "Logs_20140328."
    let store: any LogStore
    let region: String
    let account: String
    let now: @Sendable () -> Date

    /// CloudWatch's allowed retention periods.
    public static let retentionDays: Set<Int> = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]

    public init(store: any LogStore, region: String, account: String, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.region = region
        self.account = account
        self.now = now
    }

    var nowMs: Int64 { Int64(now().timeIntervalSince1970 * 1000) }

    /// Runs `operation` on the JSON `body`; returns the JSON answer. Throws `LogsError`.
    public func handle(operation: String, body: Data) async throws -> Data {
        let input = try Input(body)
        let output: [String: Any]
        switch operation {
        case "CreateLogGroup":
            let name = try input.groupName()
            try await store.createGroup(name, now: nowMs)
            output = [:]
        case "DeleteLogGroup":
            try await store.deleteGroup(try input.groupName())
            output = [:]
        case "PutRetentionPolicy":
            let days = try input.int("retentionInDays", required: true) ?? 0
            guard Self.retentionDays.contains(days) else {
                throw LogsError.invalidParameter("1 validation error detected: Value '\(days)' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: \(Self.retentionDays.sorted())")
            }
            try await store.setRetention(try input.groupName(), days: days)
            output = [:]
        case "DeleteRetentionPolicy":
            try await store.setRetention(try input.groupName(), days: nil)
            output = [:]
        case "DescribeLogGroups":
            output = try await describeGroups(input)
        case "DescribeLogStreams":
            output = try await describeStreams(input)
        case "GetLogEvents":
            output = try await getEvents(input)
        case "FilterLogEvents":
            output = try await filterEvents(input)
        default:
            throw LogsError("UnknownOperationException", "Isola's Logs API serves CreateLogGroup, DeleteLogGroup, DescribeLogGroups, Put/DeleteRetentionPolicy, DescribeLogStreams, GetLogEvents and FilterLogEvents; not \(operation).")
        }
        return try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
    }

    func groupArn(_ name: String) -> String { "arn:aws:logs:\(region):\(account):log-group:\(name)" }

    func describeGroups(_ input: Input) async throws -> [String: Any] {
        let limit = try input.limit(default: 50, maximum: 50)
        let prefix = try input.string("logGroupNamePrefix")
        let after = try input.string("nextToken")
        let page = try await store.groups(prefix: prefix, after: after, limit: limit + 1)
        let shown = page.prefix(limit)
        var output: [String: Any] = [
            "logGroups": shown.map { group -> [String: Any] in
                var item: [String: Any] = [
                    "logGroupName": group.name, "creationTime": group.creationTime, "storedBytes": group.storedBytes, "metricFilterCount": 0,
                    "arn": groupArn(group.name) + ":*", "logGroupArn": groupArn(group.name), "logGroupClass": "STANDARD",
                ]
                if let days = group.retentionInDays { item["retentionInDays"] = days }
                return item
            },
        ]
        if page.count > limit, let last = shown.last { output["nextToken"] = last.name }
        return output
    }

    func describeStreams(_ input: Input) async throws -> [String: Any] {
        let group = try input.groupName()
        let limit = try input.limit(default: 50, maximum: 50)
        let prefix = try input.string("logStreamNamePrefix")
        let orderBy = try input.string("orderBy") ?? "LogStreamName"
        guard orderBy == "LogStreamName" || orderBy == "LastEventTime" else {
            throw LogsError.invalidParameter("1 validation error detected: Value '\(orderBy)' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]")
        }
        if orderBy == "LastEventTime", prefix != nil {
            throw LogsError.invalidParameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
        }
        let offset = try input.string("nextToken").map { token -> Int in
            guard let value = Int(token), value >= 0 else { return -1 }
            return value
        } ?? 0
        guard offset >= 0 else { throw LogsError.invalidParameter("The specified nextToken is invalid.") }
        let page = try await store.streams(
            group: group, prefix: prefix, orderByLastEvent: orderBy == "LastEventTime", descending: try input.bool("descending") ?? false,
            offset: offset, limit: limit + 1
        )
        var output: [String: Any] = [
            "logStreams": page.prefix(limit).map { stream -> [String: Any] in
                var item: [String: Any] = [
                    "logStreamName": stream.name, "creationTime": stream.creationTime, "storedBytes": stream.storedBytes,
                    "arn": "\(groupArn(group)):log-stream:\(stream.name)",
                ]
                if let first = stream.firstEventTimestamp { item["firstEventTimestamp"] = first }
                if let last = stream.lastEventTimestamp { item["lastEventTimestamp"] = last }
                if let ingestion = stream.lastIngestionTime { item["lastIngestionTime"] = ingestion }
                // Isola's own member (AWS clients ignore members they do not model): whose environment wrote it.
                if let tenant = stream.tenant { item["isolaTenantId"] = tenant }
                return item
            },
        ]
        if page.count > limit { output["nextToken"] = String(offset + limit) }
        return output
    }

    func getEvents(_ input: Input) async throws -> [String: Any] {
        let group = try input.groupName()
        guard let stream = try input.string("logStreamName") else { throw Input.missing("logStreamName") }
        let limit = try input.limit(default: 10_000, maximum: 10_000)
        var after: Int64?, before: Int64?
        if let token = try input.string("nextToken") {
            guard token.count > 2, let id = Int64(token.dropFirst(2)), token.hasPrefix("f/") || token.hasPrefix("b/") else {
                throw LogsError.invalidParameter("The specified nextToken is invalid.")
            }
            if token.hasPrefix("f/") { after = id } else { before = id }
        }
        let events = try await store.events(
            group: group, stream: stream, start: try input.int64("startTime"), end: try input.int64("endTime"),
            after: after, before: before, fromHead: try input.bool("startFromHead") ?? false, limit: limit
        )
        // With no events the tokens stay where they were, so a client polling forward waits at the end.
        let forward = events.last?.id ?? after ?? before.map { $0 - 1 } ?? 0
        let backward = events.first?.id ?? before ?? after.map { $0 + 1 } ?? 0
        return [
            "events": events.map { ["timestamp": $0.timestamp, "message": $0.message, "ingestionTime": $0.ingestionTime] as [String: Any] },
            "nextForwardToken": "f/\(String(format: "%056d", forward))", "nextBackwardToken": "b/\(String(format: "%056d", backward))",
        ]
    }

    func filterEvents(_ input: Input) async throws -> [String: Any] {
        let group = try input.groupName()
        let limit = try input.limit(default: 10_000, maximum: 10_000)
        let streams = try input.strings("logStreamNames")
        let prefix = try input.string("logStreamNamePrefix")
        if streams != nil, prefix != nil {
            throw LogsError.invalidParameter("logStreamNames and logStreamNamePrefix are mutually exclusive")
        }
        let text = try input.string("filterPattern") ?? ""
        let pattern: FilterPattern
        do {
            pattern = try FilterPattern(text)
        } catch {
            throw LogsError.invalidParameter(error.description)
        }
        var after: Int64?
        if let token = try input.string("nextToken") {
            guard let id = Int64(token) else { throw LogsError.invalidParameter("The specified nextToken is invalid.") }
            after = id
        }
        // Isola's own member: only streams of this tenant's environments (`isola logs --tenant`).
        let tenant = try input.string("isolaTenantId")
        let page = try await store.filter(
            group: group, streams: streams, streamPrefix: prefix, tenant: tenant, start: try input.int64("startTime"), end: try input.int64("endTime"),
            after: after, limit: limit, scanLimit: 100_000, keep: { pattern.matches($0.message) }
        )
        var output: [String: Any] = [
            "events": page.events.map {
                ["logStreamName": $0.stream, "timestamp": $0.timestamp, "message": $0.message, "ingestionTime": $0.ingestionTime, "eventId": String($0.id)] as [String: Any]
            },
            "searchedLogStreams": [] as [Any],
        ]
        if let next = page.next { output["nextToken"] = String(next) }
        return output
    }
}

/// A JSON 1.1 request body, read member by member with the Logs service's validation errors.
struct Input {
    let object: [String: Any]

    init(_ body: Data) throws {
        if body.isEmpty {
            object = [:]
            return
        }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw LogsError("SerializationException", "The request body is not a JSON object.")
        }
        self.object = object
    }

    static func missing(_ member: String) -> LogsError {
        LogsError.invalidParameter("1 validation error detected: Value null at '\(member)' failed to satisfy constraint: Member must not be null")
    }

    func groupName() throws -> String {
        guard let name = try string("logGroupName") else { throw Self.missing("logGroupName") }
        guard (1...512).contains(name.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-/.#".contains($0)) }) else {
            throw LogsError.invalidParameter("1 validation error detected: Value '\(name)' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+")
        }
        return name
    }

    func string(_ member: String) throws -> String? {
        guard let value = object[member], !(value is NSNull) else { return nil }
        guard let string = value as? String else { throw LogsError("SerializationException", "'\(member)' must be a string.") }
        return string
    }

    func strings(_ member: String) throws -> [String]? {
        guard let value = object[member], !(value is NSNull) else { return nil }
        guard let strings = value as? [String] else { throw LogsError("SerializationException", "'\(member)' must be a list of strings.") }
        return strings
    }

    func int64(_ member: String) throws -> Int64? {
        guard let value = object[member], !(value is NSNull) else { return nil }
        guard let number = value as? NSNumber else { throw LogsError("SerializationException", "'\(member)' must be a number.") }
        return number.int64Value
    }

    func int(_ member: String, required: Bool = false) throws -> Int? {
        guard let value = try int64(member) else {
            if required { throw Self.missing(member) }
            return nil
        }
        return Int(clamping: value)
    }

    func bool(_ member: String) throws -> Bool? {
        guard let value = object[member], !(value is NSNull) else { return nil }
        guard let flag = value as? Bool else { throw LogsError("SerializationException", "'\(member)' must be true or false.") }
        return flag
    }

    func limit(default fallback: Int, maximum: Int) throws -> Int {
        guard let limit = try int("limit") else { return fallback }
        guard (1...maximum).contains(limit) else {
            throw LogsError.invalidParameter("1 validation error detected: Value '\(limit)' at 'limit' failed to satisfy constraint: Member must have value \(limit < 1 ? "greater than or equal to 1" : "less than or equal to \(maximum)")")
        }
        return limit
    }
}
