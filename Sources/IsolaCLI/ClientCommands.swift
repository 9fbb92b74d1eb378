import ArgumentParser
import AWSSigV4
import Foundation
import LambdaAPI

/// `--endpoint`, `--region`, `--profile`: shared by the client commands.
struct EndpointOptions: ParsableArguments {
    @Option(help: "The Isola server's API endpoint.")
    var endpoint = "http://127.0.0.1:9000"

    @Option(help: "Region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config, then us-east-1).")
    var region: String?

    @Option(help: "Profile in ~/.aws/credentials (default: AWS_PROFILE, then default).")
    var profile: String?

    func client() throws -> LambdaClient {
        do {
            return try LambdaClient(options: ClientOptions(endpoint: endpoint, region: region, profile: profile))
        } catch let failure as LambdaClient.Failure {
            throw ValidationError(failure.description)
        }
    }
}

/// Turns a client failure into `error: ...` and exit status 1, without a stack of noise.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as LambdaClient.Failure {
        FileHandle.standardError.write(Data("error: \(failure.description)\n".utf8))
        throw ExitCode.failure
    }
}

struct FunctionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "List the functions on a server as a table (like aws lambda list-functions).",
        discussion: """
            Examples:
              isola functions
              isola functions --endpoint http://10.0.0.5:9000 --profile isola
            """
    )

    @OptionGroup var options: EndpointOptions

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            var functions: [FunctionConfiguration] = []
            var marker: String?
            repeat {
                let query = marker.map { "Marker=\(SigV4.uriEncode($0, keepSlash: false))" } ?? ""
                let reply = try await client.send("GET", "/2015-03-31/functions/", query: query)
                let page = try JSONDecoder().decode(ListFunctionsResponse.self, from: reply.body)
                functions += page.functions
                marker = page.nextMarker
            } while marker != nil
            print(FunctionTable.render(functions))
        }
    }
}

struct InvokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoke",
        abstract: "Invoke a function and print its result (like aws lambda invoke).",
        discussion: """
            A function created with TenancyConfig PER_TENANT must be invoked with --tenant; others must not be.

            Examples:
              isola invoke my-function --tenant blue
              isola invoke my-function --tenant blue --payload '{"order": 42}'
              isola invoke my-function:live --payload '{}'
              isola invoke my-function --invocation-type Event --tenant blue
            """
    )

    @Argument(help: "Function name, name:qualifier, or ARN.")
    var function: String

    @Option(help: "Tenant ID (required for PER_TENANT functions).")
    var tenant: String?

    @Option(help: "JSON payload.")
    var payload = "{}"

    @Option(help: "Version or alias to invoke.")
    var qualifier: String?

    @Option(help: "RequestResponse (wait for the result), Event (queue it), or DryRun (validate only).")
    var invocationType = "RequestResponse"

    @OptionGroup var options: EndpointOptions

    func validate() throws {
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--payload must be JSON, e.g. '{\"key\": \"value\"}'.")
        }
        guard ["RequestResponse", "Event", "DryRun"].contains(invocationType) else {
            throw ValidationError("--invocation-type must be RequestResponse, Event or DryRun.")
        }
    }

    func run() async throws {
        let client = try options.client()
        try await reportingFailures {
            var headers = ["X-Amz-Invocation-Type": invocationType, "Content-Type": "application/json"]
            if let tenant { headers["X-Amz-Tenant-Id"] = tenant }
            let path = "/2015-03-31/functions/\(SigV4.uriEncode(function, keepSlash: false))/invocations"
            let query = qualifier.map { "Qualifier=\(SigV4.uriEncode($0, keepSlash: false))" } ?? ""
            let reply = try await client.send("POST", path, query: query, headers: headers, body: Data(payload.utf8))
            if let error = reply.headers["x-amz-function-error"] {
                FileHandle.standardError.write(Data("function error (\(error)):\n".utf8))
                print(String(decoding: reply.body, as: UTF8.self))
                throw ExitCode.failure
            }
            switch reply.status {
            case 202: print("Queued (202): the event will be delivered asynchronously.")
            case 204: print("Valid (204): the invocation would be accepted.")
            default: print(String(decoding: reply.body, as: UTF8.self))
            }
        }
    }
}

/// A plain-text table, columns sized to their content.
enum FunctionTable {
    static func render(_ functions: [FunctionConfiguration]) -> String {
        guard !functions.isEmpty else { return "No functions. Create one with: aws lambda create-function --endpoint-url <endpoint> ..." }
        let rows = functions.map { f in
            [
                f.functionName, f.runtime, "\(f.memorySize) MB", "\(f.timeout) s", f.tenancyConfig?.tenantIsolationMode ?? "-",
                "\(f.codeSize) B", f.lastModified,
            ]
        }
        return TextTable.render(header: ["NAME", "RUNTIME", "MEMORY", "TIMEOUT", "TENANCY", "CODE SIZE", "LAST MODIFIED"], rows: rows)
    }
}

/// Columns padded to their widest cell, two spaces apart.
enum TextTable {
    static func render(header: [String], rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
