import CIsolaSystem
import Foundation
import Glibc

/// An in-memory backend for the engine's tests: "starting a sandbox" runs a Swift closure that plays the
/// runtime against the environment's real Runtime API, served by the engine on a loopback listener the fake makes
/// (where the crun backend's agent makes one inside the sandbox), so the engine, the Runtime API server and the
/// environment state machine are exercised without a kernel sandbox.
public final class FakeSandboxBackend: SandboxBackend {
    /// The runtime: the sandbox's spec and its `AWS_LAMBDA_RUNTIME_API` (`127.0.0.1:<port>`); returns an exit code.
    public typealias Runtime = @Sendable (SandboxSpec, String) async -> Int32
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
        let (listener, port) = try Self.loopbackListener()
        let runtime = self.runtime
        let exit = Latch<Int32>()
        // Unstructured: the fake runtime lives as long as the "sandbox", until it returns or is stopped.
        let task = Task {
            let code = await runtime(spec, "127.0.0.1:\(port)")
            exit.fulfil(code)
        }
        return FakeSandbox(id: spec.id, listener: listener, task: task, exitLatch: exit) { [weak self] id in
            self?.lock.withLock { self?.stoppedIds.append(id) }
        }
    }

    public func sweep() async -> Int { 0 }

    /// A listening TCP socket on 127.0.0.1 and a free port, as the agent makes one on 127.0.0.1:9001.
    static func loopbackListener() throws -> (Int32, UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SandboxError("socket failed: errno \(errno)") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) == 0 && getsockname(fd, $0, &size) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else {
            close(fd)
            throw SandboxError("cannot listen on 127.0.0.1: errno \(errno)")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}

final class FakeSandbox: SandboxInstance {
    let id: String
    let listener: Int32
    let task: Task<Void, Never>
    let exitLatch: Latch<Int32>
    let onStop: @Sendable (String) -> Void

    init(id: String, listener: Int32, task: Task<Void, Never>, exitLatch: Latch<Int32>, onStop: @escaping @Sendable (String) -> Void) {
        self.id = id
        self.listener = listener
        self.task = task
        self.exitLatch = exitLatch
        self.onStop = onStop
    }

    func runtimeAPIListener() async throws -> Int32 { listener }

    func exit() async -> SandboxExit { SandboxExit(agentStatus: await exitLatch.wait()) }

    func stats() -> SandboxStats { SandboxStats(memoryPeakBytes: 0, oomKilled: false) }

    func flushOutput() async {}

    func stop() async {
        task.cancel()
        // A killed runtime: what the agent reports for SIGKILL.
        exitLatch.fulfil(128 + SIGKILL)
        _ = await exitLatch.wait()
        onStop(id)
    }
}
