import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Logging
import NIOCore
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
    let apiResponder: APIResponder
    let logger: Logger

    /// Opens (or creates) the data directory, applies migrations and sweeps what a crash left behind.
    public static func open(_ configuration: ServerConfiguration, logger: Logger, clock: @escaping @Sendable () -> Date = Date.init) async throws -> IsolaServer {
        let secrets = try loadCredentials(configuration, logger: logger)
        let directory = configuration.dataDirectory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StartupError("Cannot create the data directory \(directory.path): \(error.localizedDescription). Pass --data-dir with a writable folder.")
        }
        let store = try SQLiteFunctionStore(path: directory.appendingPathComponent("isola.sqlite").path)
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
        let routes = LambdaRoutes(controlPlane: controlPlane, codeURLs: codeURLs, invocations: ValidatingInvocationHandler(controlPlane: controlPlane), clock: clock)
        let authMode = secrets == nil ? "sigv4-unverified (loopback only)" : "sigv4"
        let health: @Sendable () -> [String: String] = {
            [
                "status": "ok", "version": IsolaVersion.string, "region": configuration.region, "accountId": configuration.accountId,
                "auth": authMode, "sandbox": "none: this build has no execution engine yet",
            ]
        }
        let responder = APIResponder(
            routes: routes.routes, authenticator: authenticator, codeURLs: codeURLs, codeStore: { code.url(for: $0) },
            health: health, clock: clock, logger: logger
        )
        return IsolaServer(configuration: configuration, controlPlane: controlPlane, apiResponder: responder, logger: logger)
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

    /// The Hummingbird application of the API port.
    public func apiApplication(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            responder: apiResponder,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }

    /// The gateway port. With no routes stored, every request is one no route matches, and gets API Gateway's
    /// answer to that: 404 `{"message":"Not Found"}`.
    public func gatewayApplication() -> some ApplicationProtocol {
        Application(
            responder: GatewayResponder(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.gatewayPort), serverName: nil),
            logger: logger
        )
    }

    /// Serves both ports until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() async throws {
        let logger = self.logger
        let configuration = self.configuration
        let api = apiApplication { port in
            logger.notice("Lambda API listening", metadata: ["endpoint": "http://\(configuration.host):\(port)"])
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: api), .init(service: gatewayApplication())],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        logger.notice("stopped")
    }
}

struct GatewayResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    func respond(to request: Request, context: Context) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .notFound, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"message":"Not Found"}"#)))
    }
}
