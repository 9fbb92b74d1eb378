import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import IsolaControlPlane
import IsolaEngine
import IsolaLogs
import IsolaSandbox
import IsolaStore
import LambdaAPI
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

public enum IsolaVersion {
    public static let string = "0.1.0"
}

/// The parts of a running server, built from a configuration: store, control plane and the HTTP responders.
/// Tests build one against a temporary directory and drive its responders in-process.
public struct IsolaServer: Sendable {
    public let configuration: ServerConfiguration
    public let controlPlane: ControlPlane
    /// nil when no sandbox backend could start here (say, no crun, or not root): the control plane still
    /// serves, invocations are refused with the reason, and /health says so.
    public let engine: Engine?
    /// Delivers asynchronous (Event) invocations; nil without an engine.
    let asyncInvoker: AsyncInvoker?
    /// Every environment's log stream, and the batches on their way there.
    let logStore: any LogStore
    let logWriter: LogWriter
    let usage: UsageMeter
    let gatewayRoutes: GatewayRoutes
    let apiResponder: APIResponder
    let logger: Logger

    /// Opens (or creates) the data directory, applies migrations and sweeps what a crash left behind.
    public static func open(_ configuration: ServerConfiguration, logger: Logger, clock: @escaping @Sendable () -> Date = Date.init) async throws -> IsolaServer {
        let secrets = try loadCredentials(configuration, logger: logger)
        let directory = configuration.dataDirectory
        // Private: metadata, code and the sandboxes' private state. (What sandboxes must traverse, their shared
        // read-only root, lives under /run/isola-<hash>, apart from this folder.)
        do {
            let fm = FileManager.default
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
            for sub in ["db", "code", "code-unpacked"] {
                try fm.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
                try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.appendingPathComponent(sub).path)
            }
        } catch {
            throw StartupError("Cannot prepare the data directory \(directory.path): \(error.localizedDescription). Pass --data-dir with a writable folder.")
        }
        let store = try SQLiteFunctionStore(path: directory.appendingPathComponent("db/isola.sqlite").path)
        // ARNs are stored in function configurations: a data directory serves the account and region it was made for.
        for (key, value, flag) in [("account-id", configuration.accountId, "--account-id"), ("region", configuration.region, "--region")] {
            let pinned = try await store.pinMeta(key, proposed: value)
            if pinned != value {
                throw StartupError("The data directory \(directory.path) holds functions of \(key) \(pinned), not \(value). Start with \(flag) \(pinned), or use another --data-dir.")
            }
        }
        let code = try CodeStore(directory: directory.appendingPathComponent("code"), logger: logger)
        let arns = ARNBuilder(region: configuration.region, account: configuration.accountId)
        let controlPlane = ControlPlane(store: store, code: code, arns: arns, clock: clock, logger: logger)
        let swept = try await controlPlane.sweepOrphanedCode()
        if swept > 0 { logger.info("start-up sweep removed unreferenced code blobs", metadata: ["count": "\(swept)"]) }
        let codeURLs = try CodeURLSigner.load(from: directory.appendingPathComponent("code-url.key"))
        let authenticator = Authenticator(verifier: SigV4Verifier(secrets: secrets, region: configuration.region), clock: clock)
        let logStore = try SQLiteLogStore(path: directory.appendingPathComponent("db/logs.sqlite").path)
        let logWriter = LogWriter(store: logStore, logger: logger)
        let usage = UsageMeter(store: store, logger: logger)
        let registry = PrometheusCollectorRegistry()
        let metrics = EngineMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let (engine, sandboxSummary) = await openEngine(configuration, code: code, logs: logWriter, usage: usage, metrics: metrics, logger: logger)
        var asyncConfiguration = AsyncConfiguration()
        asyncConfiguration.retryDelay = .seconds(configuration.eventRetryDelaySeconds)
        let asyncInvoker = engine.map {
            AsyncInvoker(queue: store, controlPlane: controlPlane, engine: $0, configuration: asyncConfiguration, now: clock, logger: logger)
        }
        let invocations: any InvocationHandler
        if let engine, let asyncInvoker {
            invocations = EngineInvocationHandler(controlPlane: controlPlane, engine: engine, asyncInvoker: asyncInvoker, clock: clock)
            let queued = await asyncInvoker.queuedCount()
            if queued > 0 { logger.notice("asynchronous invocations queued by an earlier run will be attempted", metadata: ["count": "\(queued)"]) }
        } else {
            invocations = ValidatingInvocationHandler(controlPlane: controlPlane, reason: sandboxSummary)
        }
        let gatewayRoutes = try await GatewayRoutes(store: store)
        let routes = LambdaRoutes(
            controlPlane: controlPlane, codeURLs: codeURLs, invocations: invocations, events: store, usage: usage, prices: configuration.prices,
            routeStore: store, routesChanged: { try await gatewayRoutes.reload() }, clock: clock
        ) { function in
            await engine?.retire(function: function)
        }
        let authMode = secrets == nil ? "sigv4-unverified (loopback only)" : "sigv4"
        let health: @Sendable () async -> [String: String] = {
            var fields = [
                "status": "ok", "version": IsolaVersion.string, "region": configuration.region, "accountId": configuration.accountId,
                "auth": authMode, "sandbox": sandboxSummary,
            ]
            // Asynchronous invocations waiting for an attempt (or in one): 0 once every event is delivered or recorded.
            if let asyncInvoker { fields["asyncQueued"] = "\(await asyncInvoker.queuedCount())" }
            return fields
        }
        let responder = APIResponder(
            routes: routes.routes, authenticator: authenticator, codeURLs: codeURLs, codeStore: { code.url(for: $0) },
            health: health, logs: LogsService(store: logStore, region: configuration.region, account: configuration.accountId, now: clock),
            metrics: { await Self.scrape(registry, engine: engine, asyncInvoker: asyncInvoker, logWriter: logWriter) },
            clock: clock, logger: logger
        )
        return IsolaServer(
            configuration: configuration, controlPlane: controlPlane, engine: engine, asyncInvoker: asyncInvoker,
            logStore: logStore, logWriter: logWriter, usage: usage, gatewayRoutes: gatewayRoutes, apiResponder: responder, logger: logger
        )
    }

    /// The engine on the crun backend, after sweeping what a crash left; nil (with the reason) when it cannot run here.
    static func openEngine(_ configuration: ServerConfiguration, code: CodeStore, logs: LogWriter, usage: UsageMeter, metrics: EngineMetrics, logger: Logger) async -> (Engine?, String) {
        let directory = configuration.dataDirectory
        do {
            let catalog = RuntimeCatalog(runtimeDirectory: configuration.runtimeDirectory.standardizedFileURL, interpreters: configuration.interpreters)
            let runRoot = runRoot(for: directory)
            let backend = try CrunBackend(
                stateDirectory: directory.appendingPathComponent("sandbox"), sharedDirectory: runRoot.appendingPathComponent("root"),
                agent: catalog.agent, instance: String(runRoot.lastPathComponent.dropFirst("isola-".count)), logger: logger
            )
            let swept = await backend.sweep()
            if swept > 0 { logger.notice("start-up sweep removed sandboxes left by an earlier run", metadata: ["count": "\(swept)"]) }
            var engineConfiguration = EngineConfiguration()
            engineConfiguration.keepAlive = .seconds(configuration.keepAliveSeconds)
            engineConfiguration.region = configuration.region
            engineConfiguration.prewarm = configuration.prewarm
            if let cap = configuration.maxEnvironments { engineConfiguration.maxEnvironments = cap }
            if let budget = configuration.memoryBudgetMB {
                engineConfiguration.memoryBudgetMB = budget
                engineConfiguration.maxConcurrency = min(Limits.accountConcurrency, max(1, budget / 128))
            }
            if let concurrency = configuration.maxConcurrency { engineConfiguration.maxConcurrency = concurrency }
            let engine = try Engine(
                backend: backend, catalog: catalog, code: code, unpackedCode: directory.appendingPathComponent("code-unpacked"),
                configuration: engineConfiguration, logs: logs, usage: usage, metrics: metrics, logger: logger
            )
            logger.notice("sandbox backend", metadata: [
                "backend": "\(backend.summary)", "max-environments": "\(engineConfiguration.maxEnvironments)",
                "memory-budget-mb": "\(engineConfiguration.memoryBudgetMB)", "max-concurrency": "\(engineConfiguration.maxConcurrency)",
            ])
            for runtime in catalog.substitutedRuntimes {
                logger.info("runtime served by the default interpreter", metadata: ["runtime": "\(runtime)", "interpreter": "\(catalog.defaultInterpreter)"])
            }
            return (engine, backend.summary)
        } catch {
            logger.error("NO EXECUTION ENGINE: functions can be managed but not invoked", metadata: ["reason": "\(error)"])
            return (nil, "unavailable: \(error)")
        }
    }

    /// The Prometheus text of every metric, with the gauges read now: environments by state, the async queue,
    /// log events waiting to be written.
    static func scrape(_ registry: PrometheusCollectorRegistry, engine: Engine?, asyncInvoker: AsyncInvoker?, logWriter: LogWriter) async -> [UInt8] {
        if let engine {
            for (state, count) in await engine.environmentStates {
                registry.makeGauge(name: "isola_environments", labels: [("state", state)]).set(Double(count))
            }
        }
        if let asyncInvoker { registry.makeGauge(name: "isola_async_queue_depth").set(Double(await asyncInvoker.queuedCount())) }
        registry.makeGauge(name: "isola_log_events_pending").set(Double(logWriter.pending))
        registry.makeGauge(name: "isola_log_write_lag_seconds").set(logWriter.lag.inSeconds)
        return registry.emitToBuffer()
    }

    /// The sandboxes' shared read-only root needs a folder their mapped users can traverse, which the data
    /// directory may not be: /run/isola-<hash of the data directory>, removed at shutdown.
    static func runRoot(for dataDirectory: URL) -> URL {
        let path = dataDirectory.standardizedFileURL.path
        let hash = path.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        let base = FileManager.default.isWritableFile(atPath: "/run") ? "/run" : NSTemporaryDirectory()
        return URL(fileURLWithPath: base).appendingPathComponent("isola-\(String(hash, radix: 16).prefix(12))")
    }

    /// Reads `--credentials`, and refuses an unauthenticated server on a non-loopback address.
    static func loadCredentials(_ configuration: ServerConfiguration, logger: Logger) throws -> [String: String]? {
        guard let file = configuration.credentialsFile else {
            if !configuration.isLoopback && !configuration.insecureNoAuth {
                throw StartupError(
                    "Refusing to serve on \(configuration.host) without --credentials: anyone who can reach it could deploy code. Pass --credentials FILE (AWS shared-credentials format), or --insecure-no-auth if you really mean it."
                )
            }
            logger.warning(
                "NO AUTHENTICATION: --credentials not given, so any well-formed SigV4 request is accepted without checking its signature. Fine on loopback for development; pass --credentials FILE for anything else.",
                metadata: ["host": "\(configuration.host)", "insecure-no-auth": "\(configuration.insecureNoAuth)"]
            )
            return nil
        }
        guard let text = try? String(contentsOf: file, encoding: .utf8) else {
            throw StartupError("Cannot read the credentials file \(file.path). It must be readable and in the AWS shared-credentials format ([profile] with aws_access_key_id and aws_secret_access_key).")
        }
        let profiles = CredentialsFile.parse(text)
        guard !profiles.isEmpty else {
            throw StartupError("The credentials file \(file.path) holds no key pair. Add a [profile] section with aws_access_key_id and aws_secret_access_key.")
        }
        logger.info("SigV4 authentication on", metadata: ["profiles": "\(profiles.keys.sorted().joined(separator: ","))"])
        return Dictionary(profiles.values.map { ($0.accessKeyId, $0.secretAccessKey) }, uniquingKeysWith: { _, last in last })
    }

    /// The API port as a Hummingbird application: what the in-process test client drives. `run()` serves the
    /// port itself with APIHTTPService (same responder, leaner transport).
    public func apiApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            responder: apiResponder,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// The API port's service (`run()` serves it): NIO's HTTP/1.1 codec in front of the same responder.
    /// `idleTimeout` overrides the configuration's (tests use a short one).
    public func apiService(idleTimeout: TimeAmount? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some Service {
        APIHTTPService(
            host: configuration.host, port: configuration.port, responder: apiResponder, onRunning: onRunning,
            idleTimeout: idleTimeout ?? .seconds(Int64(configuration.idleTimeoutSeconds)), logger: logger
        )
    }

    /// The gateway port: API Gateway's Lambda proxy integration for the stored routes (`/isola/v1/routes`); a
    /// request no route matches gets API Gateway's 404 `{"message": "Not Found"}`.
    public func gatewayApplication() -> some ApplicationProtocol {
        Application(
            responder: GatewayResponder(routes: gatewayRoutes, controlPlane: controlPlane, engine: engine, logger: logger),
            // Public clients: an idle or half-sent request's connection is closed after a minute (as on the API port).
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.gatewayPort), serverName: nil),
            logger: logger
        )
    }

    /// Serves both ports until SIGTERM or SIGINT, then shuts down gracefully: the listeners first, then every
    /// execution environment.
    public func run() async throws {
        let logger = self.logger
        let configuration = self.configuration
        let api = apiService { port in
            logger.notice("Lambda API listening", metadata: [
                "endpoint": "http://\(configuration.host):\(port)", "event-loops": "\(NIOSingletons.groupLoopCountSuggestion)",
            ])
        }
        // Services stop in reverse order: the engine is listed first so that it stops last.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First, so it stops last: the engine's last lines are written before the process exits.
        services.append(.init(service: LogService(writer: logWriter, store: logStore, retentionDays: configuration.logRetentionDays, logger: logger)))
        services.append(.init(service: UsageService(meter: usage)))
        if let engine { services.append(.init(service: EngineService(engine: engine, logger: logger))) }
        // After the engine, so it stops first: no new attempts, and those in progress finish while the engine runs.
        if let asyncInvoker { services.append(.init(service: AsyncInvokerService(invoker: asyncInvoker))) }
        services += [.init(service: api), .init(service: gatewayApplication())]
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        logger.notice("stopped")
    }
}

/// Keeps the engine's housekeeping running (idle environments past the keep-alive are torn down) and, on
/// graceful shutdown, stops every environment before the process exits.
struct EngineService: Service {
    let engine: Engine
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                await engine.reapIdle()
            }
        }
        await engine.shutdown()
        logger.notice("all execution environments stopped")
    }
}

/// Writes log batches until shutdown (then the rest), and enforces retention: each group's policy, and
/// `--log-retention-days` everywhere, at start and every hour.
struct LogService: Service {
    let writer: LogWriter
    let store: any LogStore
    let retentionDays: Int
    let logger: Logger

    func run() async throws {
        let writer = self.writer
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cancelWhenGracefulShutdown { await writer.run() } }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        do {
                            let removed = try await store.enforceRetention(now: Int64(Date().timeIntervalSince1970 * 1000), maximumAgeDays: retentionDays)
                            if removed > 0 { logger.info("log retention removed old events", metadata: ["count": "\(removed)"]) }
                        } catch {
                            logger.error("log retention failed", metadata: ["error": "\(error)"])
                        }
                        try? await Task.sleep(for: .seconds(3_600))
                    }
                }
            }
        }
    }
}

/// Adds metered usage to the store every second, and once more at shutdown.
struct UsageService: Service {
    let meter: UsageMeter

    func run() async throws {
        await cancelWhenGracefulShutdown { await meter.run() }
        await meter.flush()
    }
}

struct AsyncInvokerService: Service {
    let invoker: AsyncInvoker

    func run() async throws {
        await cancelWhenGracefulShutdown { await invoker.run() }
    }
}

