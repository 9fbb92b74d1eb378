import ArgumentParser
import AWSSigV4
import Foundation
import IsolaEngine

/// `isola usage`: what each tenant used and what it cost, most expensive first.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Per-tenant usage and cost: invocations, errors, throttles, cold starts, environments, GB-seconds, charges.",
        discussion: """
            Charges use the server's price table (AWS's x86 list prices unless `isola serve --price-table` says otherwise):
            requests per million, compute per GB-second, and the tenant-isolation charge per GB of each environment created.
            Usage is kept per hour; --since and --until take ISO 8601 times or dates.
            The same figures: GET /isola/v1/usage?function=F&tenant=T&since=...&until=... (SigV4-signed).

            Examples:
              isola usage
              isola usage --function-name tenant-demo
              isola usage --function-name tenant-demo --tenant 7 --since 2026-11-25
              isola usage --csv > usage.csv
            """
    )

    @OptionGroup var options: EndpointOptions

    @Option(help: "Only this function.")
    var functionName: String?

    @Option(help: "Only this tenant.")
    var tenant: String?

    @Option(help: "From this time (ISO 8601, e.g. 2026-11-25 or 2026-11-25T10:00:00Z).")
    var since: String?

    @Option(help: "Until this time (ISO 8601).")
    var until: String?

    @Flag(help: "Print the server's JSON.")
    var json = false

    @Flag(help: "Print CSV (one row per function and tenant).")
    var csv = false

    func validate() throws {
        if json && csv { throw ValidationError("Choose one of --json and --csv.") }
    }

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            var query: [String] = []
            for (name, value) in [("function", functionName), ("tenant", tenant), ("since", since), ("until", until)] {
                if let value { query.append("\(name)=\(SigV4.uriEncode(value, keepSlash: false))") }
            }
            let reply = try await client.send("GET", "/isola/v1/usage", query: query.sorted().joined(separator: "&"))
            if json {
                print(String(decoding: reply.body, as: UTF8.self))
                return
            }
            let rows = try JSONDecoder().decode(Report.self, from: reply.body).usage
            let header = ["FUNCTION", "TENANT", "INVOCATIONS", "ERRORS", "THROTTLES", "COLD STARTS", "ENVIRONMENTS", "GB-SECONDS", "REQUESTS $", "COMPUTE $", "ISOLATION $", "TOTAL $"]
            let cells = rows.map { r in
                [
                    r.function, r.tenant ?? "-", "\(r.invocations)", "\(r.errors)", "\(r.throttles)", "\(r.coldStarts)", "\(r.environmentsCreated)",
                    String(format: "%.3f", r.billedGbSeconds), Self.usd(r.requestChargeUsd), Self.usd(r.computeChargeUsd),
                    Self.usd(r.isolationChargeUsd), Self.usd(r.totalChargeUsd),
                ]
            }
            if csv {
                print(([header] + cells).map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\n"))
            } else if rows.isEmpty {
                print("No usage recorded\(functionName.map { " for \($0)" } ?? "") in that time.")
            } else {
                print(TextTable.render(header: header, rows: cells))
                print("\nTotal: \(Self.usd(rows.reduce(0) { $0 + $1.totalChargeUsd }))")
            }
        }
    }

    static func usd(_ value: Double) -> String { String(format: "%.8f", value) }

    static func csvField(_ text: String) -> String {
        text.contains(where: { ",\"\n".contains($0) }) ? "\"\(text.replacingOccurrences(of: "\"", with: "\"\""))\"" : text
    }

    struct Report: Decodable { var usage: [UsageRow] }
}
