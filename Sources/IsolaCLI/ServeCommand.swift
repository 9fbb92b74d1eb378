import ArgumentParser
import Foundation
import IsolaEngine
import IsolaServer
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Isola server: the Lambda API and the tenant-aware HTTP gateway.",
        discussion: """
            Metadata and code live in --data-dir (SQLite, WAL); everything acknowledged survives a restart, even kill -9.
            SIGTERM or SIGINT (Ctrl-C) shut down gracefully.

            Without --credentials the server accepts any well-formed SigV4 request without checking the signature,
            and only on a loopback address; with it, every request must be signed by one of the file's keys.

            Examples:
              isola serve
              isola serve --port 9000 --data-dir /var/lib/isola --credentials ./isola-credentials
              isola serve --host 0.0.0.0 --credentials ./isola-credentials --region eu-west-1
              isola serve --keep-alive 60 --interpreter python3.12=/usr/bin/python3.12
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port of the Lambda API (use it as the aws CLI's --endpoint-url).")
    var port = 9000

    @Option(help: "Port of the tenant-aware HTTP gateway.")
    var gatewayPort = 9080

    @Option(help: "Folder for metadata and code.")
    var dataDir = "./.isola"

    @Option(help: "AWS shared-credentials file whose keys may sign requests (default: none, loopback only, signatures unchecked).")
    var credentials: String?

    @Option(help: "Account ID used in every ARN.")
    var accountId = "000000000000"

    @Option(help: "Region used in every ARN; requests must be signed for it.")
    var region = "us-east-1"

    @Option(help: "Folder with the sandbox agent and the function runtimes (scripts/setup builds it).")
    var runtimeDir = "./runtime"

    @Option(help: ArgumentHelp("Interpreter for a Python runtime, e.g. python3.12=/usr/bin/python3.12 (repeatable; must live under /usr, which every sandbox mounts). Default: /usr/bin/pythonX.Y when installed, else /usr/bin/python3.", valueName: "runtime=path"))
    var interpreter: [String] = []

    @Option(help: "Seconds an idle execution environment is kept for the next invocation of its function (and tenant).")
    var keepAlive = 600

    @Option(help: "Most execution environments alive at once; at the cap the least recently used idle one makes room, and with none idle invocations get 429 (default: 2500, or fewer when memory is short).")
    var maxEnvironments: Int?

    @Option(help: "MB of MemorySize all live environments may add up to; idle ones are evicted least recently used first, then invokes get 429 (default: 75% of RAM).")
    var memoryBudget: Int?

    @Option(help: "Invocations in flight across all functions; more get 429 (default: the memory budget / 128 MB, at most 1000).")
    var maxConcurrency: Int?

    @Flag(help: "Serve on a non-loopback address without --credentials. Dangerous: anyone who can reach the port can run code.")
    var insecureNoAuth = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Option(help: "Prewarmed environments kept per function version in use: initialized, bound to no tenant, claimed by a new tenant's first invocation so it skips the cold start (0 turns them off; a function's isola:prewarm tag overrides it).")
    var prewarm = 1

    @Option(help: "Seconds a client connection (API and gateway ports) may send nothing before it is closed; a connection whose request is being answered is never cut.")
    var idleTimeout = 60

    @Option(help: "Seconds before the first retry of an asynchronous (Event) invocation whose function failed; it doubles for the second (Lambda: 60, then 120).")
    var eventRetryDelay = 60

    @Option(help: "Days log events are kept at most, whatever a log group's retention policy says (put-retention-policy can keep them shorter).")
    var logRetentionDays = 7

    @Option(help: ArgumentHelp("JSON prices for `isola usage`: {\"requestsPerMillionUsd\": 0.2, \"computePerGbSecondUsd\": 0.0000166667, \"isolationPerGbEnvironmentUsd\": 0.000167} (default: AWS's x86 list prices).", valueName: "file"))
    var priceTable: String?

    @Option(help: "Threads serving the API, the gateway and every sandbox's Runtime API (default: half the CPUs, at least 1; the rest is left to the functions).")
    var eventLoops: Int?

    /// What `--event-loops` asks for, read from the raw arguments before anything is parsed: the event loops are
    /// created (and take over Swift Concurrency) before the command runs. Invalid values are refused by `validate`.
    static func eventLoopCount(arguments: [String]) -> Int {
        let fallback = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        guard arguments.dropFirst().first == "serve" else { return fallback }
        for (index, argument) in arguments.enumerated() {
            if argument.hasPrefix("--event-loops="), let value = Int(argument.dropFirst("--event-loops=".count)), value >= 1 { return value }
            if argument == "--event-loops", index + 1 < arguments.count, let value = Int(arguments[index + 1]), value >= 1 { return value }
        }
        return fallback
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error.")
        }
        guard (0...65535).contains(port), (0...65535).contains(gatewayPort) else {
            throw ValidationError("--port and --gateway-port must be between 0 and 65535.")
        }
        for entry in interpreter {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("python3."), parts[1].hasPrefix("/usr/"), FileManager.default.isExecutableFile(atPath: parts[1]) else {
                throw ValidationError("--interpreter takes python3.N=/usr/..., an executable under /usr (got '\(entry)').")
            }
        }
        if let maxEnvironments, maxEnvironments < 1 { throw ValidationError("--max-environments must be at least 1.") }
        if let memoryBudget, memoryBudget < 128 { throw ValidationError("--memory-budget must be at least 128 (MB).") }
        if let maxConcurrency, maxConcurrency < 1 { throw ValidationError("--max-concurrency must be at least 1.") }
        guard (1...3_653).contains(logRetentionDays) else { throw ValidationError("--log-retention-days must be between 1 and 3653.") }
        guard (0...64).contains(prewarm) else { throw ValidationError("--prewarm must be between 0 and 64.") }
        guard (1...3_600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be between 1 and 3600 seconds.") }
        guard (1...3_600).contains(eventRetryDelay) else { throw ValidationError("--event-retry-delay must be between 1 and 3600 seconds.") }
        if let eventLoops, !(1...256).contains(eventLoops) { throw ValidationError("--event-loops must be between 1 and 256.") }
        guard keepAlive >= 0 else { throw ValidationError("--keep-alive must be 0 or more seconds.") }
        guard accountId.count == 12, accountId.allSatisfy(\.isNumber) else {
            throw ValidationError("--account-id must be 12 digits, like 000000000000.")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label, level: level) }
        let logger = Logger(label: "isola")
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.gatewayPort = gatewayPort
        configuration.dataDirectory = URL(fileURLWithPath: dataDir)
        configuration.credentialsFile = credentials.map { URL(fileURLWithPath: $0) }
        configuration.eventRetryDelaySeconds = eventRetryDelay
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.prewarm = prewarm
        configuration.logRetentionDays = logRetentionDays
        if let priceTable {
            guard let data = FileManager.default.contents(atPath: priceTable), let prices = try? JSONDecoder().decode(PriceTable.self, from: data) else {
                throw ValidationError("--price-table: cannot read \(priceTable) as JSON with requestsPerMillionUsd, computePerGbSecondUsd and isolationPerGbEnvironmentUsd.")
            }
            configuration.prices = prices
        }
        configuration.accountId = accountId
        configuration.region = region
        configuration.insecureNoAuth = insecureNoAuth
        configuration.runtimeDirectory = URL(fileURLWithPath: runtimeDir)
        configuration.keepAliveSeconds = keepAlive
        if let maxEnvironments { configuration.maxEnvironments = maxEnvironments }
        configuration.memoryBudgetMB = memoryBudget
        configuration.maxConcurrency = maxConcurrency
        configuration.interpreters = Dictionary(interpreter.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], parts[1])
        }, uniquingKeysWith: { _, last in last })
        if insecureNoAuth {
            logger.warning("--insecure-no-auth is ON: signatures are not checked on a non-loopback address.")
        }
        do {
            let server = try await IsolaServer.open(configuration, logger: logger)
            try await server.run()
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
