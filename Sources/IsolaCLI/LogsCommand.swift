import ArgumentParser
import Foundation
import LambdaAPI

/// `isola logs NAME`: a function's log lines in a terminal, like `sam logs --tail`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a function's logs (time, tenant, stream, message); --follow keeps printing new lines.",
        discussion: """
            Reads the function's log group (LoggingConfig.LogGroup, else /aws/lambda/NAME) through the CloudWatch Logs
            API. --filter takes CloudWatch's filter pattern syntax: terms, "quoted phrases", ?alternatives, -exclusions,
            or JSON patterns like '{ $.level = "ERROR" }'.

            Examples:
              isola logs tenant-demo
              isola logs tenant-demo --tenant 7 --since 1h
              isola logs tenant-demo --follow --filter '?ERROR ?Exception'
              isola logs tenant-demo --filter platform.initStart --since 1d
            """
    )

    @OptionGroup var options: EndpointOptions

    @Argument(help: "The function's name.")
    var functionName: String

    @Option(help: "Only this tenant's environments.")
    var tenant: String?

    @Flag(help: "Keep printing new lines until interrupted (Ctrl-C).")
    var follow = false

    @Option(help: "How far back to start: 30s, 10m, 2h, 1d (default 10m).")
    var since = "10m"

    @Option(help: "A CloudWatch Logs filter pattern.")
    var filter: String?

    func validate() throws {
        guard Self.seconds(since) != nil else { throw ValidationError("--since takes a number and a unit: 30s, 10m, 2h or 1d.") }
    }

    static func seconds(_ text: String) -> Double? {
        guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3600
        case "d": return value * 86_400
        default: return nil
        }
    }

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            let reply = try await client.send("GET", "/2015-03-31/functions/\(functionName)/configuration")
            let configuration = try JSONDecoder().decode(FunctionConfiguration.self, from: reply.body)
            let group = configuration.loggingConfig.logGroup ?? "/aws/lambda/\(configuration.functionName)"
            var tenants: [String: String] = [:]
            var token: String?
            let start = Int64((Date().timeIntervalSince1970 - (Self.seconds(since) ?? 600)) * 1000)
            var printed = false
            while true {
                var request: [String: Any] = ["logGroupName": group, "startTime": start]
                if let filter { request["filterPattern"] = filter }
                if let tenant { request["isolaTenantId"] = tenant }
                if let token { request["nextToken"] = token }
                let page = try await logs(client, "FilterLogEvents", request)
                let events = page["events"] as? [[String: Any]] ?? []
                for event in events {
                    let stream = event["logStreamName"] as? String ?? "-"
                    if tenants[stream] == nil { tenants = try await streamTenants(client, group: group) }
                    let time = Date(timeIntervalSince1970: Double((event["timestamp"] as? NSNumber)?.int64Value ?? 0) / 1000)
                    let message = (event["message"] as? String ?? "").trimmingCharacters(in: .newlines)
                    // Written at once, not buffered: with --follow, lines must show up as they come.
                    FileHandle.standardOutput.write(Data("\(LambdaTimestamp.string(from: time))  \(tenants[stream] ?? "-")  \(Self.shortStream(stream))  \(message)\n".utf8))
                    printed = true
                }
                if let next = page["nextToken"] as? String {
                    token = next  // more now
                    continue
                }
                guard follow else { break }
                // Isola's tokens are event ids: the next poll follows on from the last event seen.
                if let last = events.last?["eventId"] as? String { token = last }
                try await Task.sleep(for: .seconds(1))
            }
            if !printed && !follow { print("No log lines in \(group) for that time\(tenant.map { " and tenant \($0)" } ?? "").") }
        }
    }

    /// `2026/11/25/[$LATEST]3f2a...` shortened to its last 8 characters.
    static func shortStream(_ stream: String) -> String { String(stream.suffix(8)) }

    func streamTenants(_ client: LambdaClient, group: String) async throws -> [String: String] {
        var found: [String: String] = [:]
        var token: String?
        repeat {
            var request: [String: Any] = ["logGroupName": group]
            if let token { request["nextToken"] = token }
            let page = try await logs(client, "DescribeLogStreams", request)
            for stream in page["logStreams"] as? [[String: Any]] ?? [] {
                if let name = stream["logStreamName"] as? String { found[name] = stream["isolaTenantId"] as? String ?? "-" }
            }
            token = page["nextToken"] as? String
        } while token != nil
        return found
    }

    func logs(_ client: LambdaClient, _ operation: String, _ request: [String: Any]) async throws -> [String: Any] {
        let body = try JSONSerialization.data(withJSONObject: request)
        let reply = try await client.send(
            "POST", "/", headers: ["X-Amz-Target": "Logs_20140328.\(operation)", "Content-Type": "application/x-amz-json-1.1"], body: body, service: "logs"
        )
        return (try JSONSerialization.jsonObject(with: reply.body)) as? [String: Any] ?? [:]
    }
}
