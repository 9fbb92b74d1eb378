import Foundation
import IsolaEngine

/// Everything `isola serve` is told, with the documented defaults.
public struct ServerConfiguration: Sendable {
    /// Address of the Lambda API (and the Logs API later). Default 127.0.0.1.
    public var host = "127.0.0.1"
    /// Port of the Lambda API. Default 9000.
    public var port = 9000
    /// Port of the tenant-aware HTTP gateway. Default 9080.
    public var gatewayPort = 9080
    /// Where metadata (SQLite) and code blobs live. Default ./.isola.
    public var dataDirectory = URL(fileURLWithPath: ".isola")
    /// An AWS shared-credentials file whose keys may sign requests. Default none.
    public var credentialsFile: URL?
    /// The account in every ARN. Default 000000000000.
    public var accountId = "000000000000"
    /// The region in every ARN and the only region a signature may be scoped to. Default us-east-1.
    public var region = "us-east-1"
    /// Holds the sandbox agent (`agent`) and the runtimes (`python/` with awslambdaric). Default ./runtime.
    public var runtimeDirectory = URL(fileURLWithPath: "runtime")
    /// Python runtime -> interpreter under /usr (the rest: /usr/bin/pythonX.Y if installed, else /usr/bin/python3).
    public var interpreters: [String: String] = [:]
    /// How long an idle execution environment is kept for its next invocation. Default 600 s.
    public var keepAliveSeconds = 600
    /// Most environments alive at once (see EngineConfiguration.maxEnvironments). nil: the engine's default.
    public var maxEnvironments: Int?
    /// MB of MemorySize all live environments may add up to (nil: the engine's default, 75% of RAM).
    public var memoryBudgetMB: Int?
    /// Invocations in flight across all functions (nil: the engine's default).
    public var maxConcurrency: Int?
    /// Seconds a client connection (API and gateway ports) may send nothing before it is closed, unless its request
    /// is being answered. Default 60 s.
    public var idleTimeoutSeconds = 60
    /// Seconds before the first retry of an asynchronous invocation that failed; doubles for the next (Lambda: 60).
    public var eventRetryDelaySeconds = 60
    /// Prewarmed environments per function version in use (0 turns pools off); a function's `isola:prewarm` tag overrides it.
    public var prewarm = 1
    /// Log events older than this are deleted whatever their group's retention policy (the data dir stays bounded).
    public var logRetentionDays = 7
    /// What `isola usage` charges (AWS's x86 list prices unless `--price-table` says otherwise).
    public var prices = PriceTable()
    /// Serve without verifying signatures on a non-loopback address. Off by default; logged loudly when on.
    public var insecureNoAuth = false

    public init() {}

    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// Why the server refuses to start, with what to do about it.
public struct StartupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
