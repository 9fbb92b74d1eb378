import Foundation

/// An in-memory backend for the engine's tests: "starting a sandbox" runs a Swift closure that plays the
/// runtime (it talks to the environment's real Runtime API socket), so the engine, the Runtime API server and the
/// environment state machine are exercised without a kernel sandbox.
public final class FakeSandboxBackend: SandboxBackend {
    public typealias Runtime = @Sendable (SandboxSpec) async -> Int32
    public let summary = "fake (in-process, no isolation: tests only)"
    let runtime: Runtime
    private let lock = NSLock()
    private nonisolated(unsafe) var started: [SandboxSpec] = []
    private nonisolated(unsafe) var stoppedIds: [String] = []

    public init(runtime: @escaping Runtime) { self.runtime = runtime }

    /// Every spec started so far, in order.
    public var startedSpecs: [SandboxSpec] { lock.withLock { started } }
    public var stoppedSandboxes: [String] { lock.withLock { stoppedIds } }

    public func start(_ spec: SandboxSpec, output: @escaping @Sendable (SandboxStream, [UInt8]) -> Void) async throws -> any SandboxInstance {
        lock.withLock { started.append(spec) }
        let runtime = self.runtime
        let exit = ExitLatch()
        // Unstructured: the fake runtime lives as long as the "sandbox", until it returns or is stopped.
        let task = Task {
            let code = await runtime(spec)
            exit.open(code)
        }
        return FakeSandbox(id: spec.id, task: task, exitLatch: exit) { [weak self] id in
            self?.lock.withLock { self?.stoppedIds.append(id) }
        }
    }

    public func sweep() async -> Int { 0 }
}

final class FakeSandbox: SandboxInstance {
    let id: String
    let task: Task<Void, Never>
    let exitLatch: ExitLatch
    let onStop: @Sendable (String) -> Void

    init(id: String, task: Task<Void, Never>, exitLatch: ExitLatch, onStop: @escaping @Sendable (String) -> Void) {
        self.id = id
        self.task = task
        self.exitLatch = exitLatch
        self.onStop = onStop
    }

    func exit() async -> SandboxExit { SandboxExit(agentStatus: await exitLatch.wait()) }

    func stats() -> SandboxStats { SandboxStats(memoryPeakBytes: 0, oomKilled: false) }

    func flushOutput() async {}

    func stop() async {
        task.cancel()
        // A killed runtime: what the agent reports for SIGKILL.
        exitLatch.open(128 + SIGKILL)
        _ = await exitLatch.wait()
        onStop(id)
    }
}
