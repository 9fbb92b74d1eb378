import ArgumentParser
import AWSSigV4
import Foundation

/// `isola failed-events`: asynchronous invocations that ran out of attempts or age, or whose function was deleted.
struct FailedEventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failed-events",
        abstract: "List asynchronous (Event) invocations that failed for good, newest first.",
        discussion: """
            An Event invocation is retried after a function error (MaximumRetryAttempts, default 2) until it is older
            than MaximumEventAgeInSeconds (default 6 hours); one that runs out is recorded here, never dropped.
            The same list: GET /isola/v1/failed-events[?FunctionName=NAME&MaxItems=N] (SigV4-signed).

            Examples:
              isola failed-events
              isola failed-events --function-name my-function --max-items 10
              isola failed-events --function-name my-function --payloads
            """
    )

    @OptionGroup var options: EndpointOptions

    @Option(help: "Only this function's events.")
    var functionName: String?

    @Option(help: "At most this many (1-1000).")
    var maxItems = 50

    @Flag(help: "Print each event's payload under the table.")
    var payloads = false

    func validate() throws {
        guard (1...1_000).contains(maxItems) else { throw ValidationError("--max-items must be between 1 and 1000.") }
    }

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            var query = ["MaxItems=\(maxItems)"]
            if let functionName { query.append("FunctionName=\(SigV4.uriEncode(functionName, keepSlash: false))") }
            let reply = try await client.send("GET", "/isola/v1/failed-events", query: query.sorted().joined(separator: "&"))
            let events = try JSONDecoder().decode(Listing.self, from: reply.body).failedEvents
            guard !events.isEmpty else {
                print(functionName.map { "No failed asynchronous invocations of \($0)." } ?? "No failed asynchronous invocations.")
                return
            }
            let rows = events.map { e in
                [e.failedAt, e.functionName + (e.qualifier == "$LATEST" ? "" : ":\(e.qualifier)"), e.tenantId ?? "-", e.requestId, "\(e.attempts)", e.reason, e.lastErrorType ?? "-"]
            }
            print(TextTable.render(header: ["FAILED AT", "FUNCTION", "TENANT", "REQUEST ID", "ATTEMPTS", "REASON", "LAST ERROR"], rows: rows))
            if payloads {
                for event in events { print("\n\(event.requestId):\n\(event.payload)") }
            }
        }
    }

    struct Listing: Decodable {
        var failedEvents: [Event]
        enum CodingKeys: String, CodingKey { case failedEvents = "FailedEvents" }
    }

    struct Event: Decodable {
        var requestId, functionName, qualifier, payload, failedAt, reason: String
        var tenantId, lastErrorType: String?
        var attempts: Int

        enum CodingKeys: String, CodingKey {
            case requestId = "RequestId", functionName = "FunctionName", qualifier = "Qualifier", payload = "Payload"
            case failedAt = "FailedAt", reason = "Reason", tenantId = "TenantId", lastErrorType = "LastErrorType", attempts = "Attempts"
        }
    }
}
