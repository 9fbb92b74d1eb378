import AsyncHTTPClient
import Foundation
import IsolaControlPlane
import IsolaSandbox
import IsolaStore
import LambdaAPI
import Logging
import NIOCore
import NIOHTTP1

@testable import IsolaEngine

/// What the fake runtime does with one event.
enum FakeStep: Sendable {
    case respond(String)
    case postError(type: String, body: String)
    case exit(Int32)
    case hang
    case askNextAgain
}

/// How the fake runtime initializes.
enum FakeInit: Sendable {
    case ready
    case initError(type: String, body: String)
    case exit(Int32)
    /// Init takes this long in the first `slowStarts` sandboxes, then none.
    case slow(Duration, slowStarts: Int)
}

/// Counts sandbox starts across a harness's fake runtimes.
final class StartCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

/// An engine over the fake backend, a real control plane, store and Runtime API servers, in temporary folders.
struct EngineHarness {
    let root: URL
    let plane: ControlPlane
    let engine: Engine
    let backend: FakeSandboxBackend
    let store: SQLiteFunctionStore

    static func make(keepAlive: Duration = .seconds(600), initLimit: Duration = .seconds(10), maxEnvironments: Int = 100, memoryBudgetMB: Int = 100_000, prewarm: Int = 0, initBehaviour: FakeInit = .ready, step: @escaping @Sendable (_ count: Int, _ tenant: String?, _ requestId: String) -> FakeStep) async throws -> EngineHarness {
        let root = URL(fileURLWithPath: "/tmp/isola-engine-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("runtime/python/awslambdaric"), withIntermediateDirectories: true)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let store = try SQLiteFunctionStore(path: root.appendingPathComponent("isola.sqlite").path)
        let code = try CodeStore(directory: root.appendingPathComponent("code"), logger: logger)
        let plane = ControlPlane(store: store, code: code, arns: ARNBuilder(region: "us-east-1", account: "000000000000"), logger: logger)
        let backend = FakeSandboxBackend(runtime: fakeRuntime(initBehaviour: initBehaviour, step: step))
        var configuration = EngineConfiguration()
        configuration.keepAlive = keepAlive
        configuration.initLimit = initLimit
        configuration.maxEnvironments = maxEnvironments
        configuration.memoryBudgetMB = memoryBudgetMB
        configuration.maxConcurrency = 1_000
        configuration.prewarm = prewarm
        let engine = try Engine(
            backend: backend, catalog: RuntimeCatalog(runtimeDirectory: root.appendingPathComponent("runtime")), code: code,
            unpackedCode: root.appendingPathComponent("unpacked"), configuration: configuration, logger: logger
        )
        return EngineHarness(root: root, plane: plane, engine: engine, backend: backend, store: store)
    }

    func remove() async {
        await engine.shutdown()
        try? FileManager.default.removeItem(at: root)
    }

    /// The smallest valid zip: an empty archive.
    static let emptyZip = Data([0x50, 0x4B, 0x05, 0x06] + [UInt8](repeating: 0, count: 18))

    @discardableResult
    func createFunction(_ name: String, perTenant: Bool, timeout: Int = 3, memory: Int = 128, tags: [String: String] = [:]) async throws -> FunctionConfiguration {
        var json: [String: Any] = [
            "MemorySize": memory, "Tags": tags,
            "FunctionName": name, "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r", "Handler": "app.handler",
            "Code": ["ZipFile": Self.emptyZip.base64EncodedString()], "Timeout": timeout,
        ]
        if perTenant { json["TenancyConfig"] = ["TenantIsolationMode": "PER_TENANT"] }
        let request = try JSONDecoder().decode(CreateFunctionRequest.self, from: JSONSerialization.data(withJSONObject: json))
        return try await plane.createFunction(try Validation.validateCreate(request))
    }

    func invoke(_ name: String, tenant: String?, payload: String = "{}") async throws -> InvocationResult {
        let resolved = try await plane.resolve(FunctionReference(name: name, qualifier: "$LATEST"))
        let input = InvocationInput(
            requestId: UUID().uuidString.lowercased(), functionArn: plane.arns.function(name), payload: Data(payload.utf8),
            tenantId: tenant, clientContext: nil, tailLogs: true
        )
        return try await engine.invoke(resolved, input: input)
    }
}

/// Waits (up to `timeout`) for a condition that background work makes true, e.g. an environment being stopped.
func eventually(timeout: Duration = .seconds(5), _ condition: () async -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

extension InvocationResult {
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: payload)) as? [String: Any] ?? [:] }
}

/// A step that answers with how many invocations this environment has seen and the tenant it was given: tells
/// environments apart and proves reuse.
let echoStep: @Sendable (Int, String?, String) -> FakeStep = { count, tenant, _ in
    .respond(#"{"count": \#(count), "tenant": "\#(tenant ?? "none")"}"#)
}

/// A runtime written against the Runtime API, as awslambdaric would speak it.
func fakeRuntime(initBehaviour: FakeInit, step: @escaping @Sendable (Int, String?, String) -> FakeStep) -> FakeSandboxBackend.Runtime {
    let starts = StartCounter()
    return { _, runtimeAPI in
        let start = starts.next()
        func url(_ path: String) -> String { "http://\(runtimeAPI)/2018-06-01/runtime\(path)" }
        func post(_ path: String, _ body: String, headers: [(String, String)] = []) async -> Int {
            var request = HTTPClientRequest(url: url(path))
            request.method = .POST
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(string: body))
            guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(30)) else { return -1 }
            return Int(response.status.code)
        }
        switch initBehaviour {
        case .ready: break
        case .initError(let type, let body):
            _ = await post("/init/error", body, headers: [("Lambda-Runtime-Function-Error-Type", type)])
            return 1
        case .exit(let code): return code
        case .slow(let duration, let slowStarts):
            if start <= slowStarts { try? await Task.sleep(for: duration) }
        }
        var count = 0
        while !Task.isCancelled {
            guard let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url("/invocation/next")), timeout: .seconds(60)),
                response.status == .ok
            else { return 139 }  // awslambdaric crashes when /next fails
            _ = try? await response.body.collect(upTo: 10_000_000)
            let requestId = response.headers.first(name: "Lambda-Runtime-Aws-Request-Id") ?? ""
            let tenant = response.headers.first(name: "Lambda-Runtime-Aws-Tenant-Id")
            count += 1
            // Steps may block (Thread.sleep stands in for a slow handler): run them on a Dispatch worker, not on
            // one of Swift's cooperative threads (two on a two-CPU machine), which the engine needs meanwhile.
            let index = count
            guard let next = try? await Blocking.run({ step(index, tenant, requestId) }) else { return 1 }
            switch next {
            case .respond(let body): _ = await post("/invocation/\(requestId)/response", body)
            case .postError(let type, let body): _ = await post("/invocation/\(requestId)/error", body, headers: [("Lambda-Runtime-Function-Error-Type", type)])
            case .exit(let code): return code
            case .hang: try? await Task.sleep(for: .seconds(3600))
            case .askNextAgain: continue
            }
        }
        return 0
    }
}
