import Foundation

/// Everything a backend needs to start one execution environment.
public struct SandboxSpec: Sendable {
    /// Unique among live sandboxes; letters, digits and `-` only (it names the crun container and its cgroup).
    public var id: String
    /// The function's unpacked code, bind-mounted read-only at `/var/task`.
    public var codeDirectory: URL
    /// The runtime's files (e.g. awslambdaric), bind-mounted read-only at `/var/runtime`.
    public var runtimeDirectory: URL
    /// The runtime's command line inside the sandbox; the agent (PID 1) starts it.
    public var command: [String]
    public var environment: [String: String]
    public var memoryMB: Int
    public var ephemeralStorageMB: Int
    /// First host uid/gid of this sandbox's user-namespace mapping (65,536 ids, never shared while it lives).
    public var hostIDBase: UInt32

    public init(id: String, codeDirectory: URL, runtimeDirectory: URL, command: [String], environment: [String: String], memoryMB: Int, ephemeralStorageMB: Int, hostIDBase: UInt32) {
        self.id = id
        self.codeDirectory = codeDirectory
        self.runtimeDirectory = runtimeDirectory
        self.command = command
        self.environment = environment
        self.memoryMB = memoryMB
        self.ephemeralStorageMB = ephemeralStorageMB
        self.hostIDBase = hostIDBase
    }
}

/// How a sandbox ended, as the agent reports its runtime's fate.
public enum SandboxExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// The agent exits with the runtime's code, or 128 + the signal that ended it.
    public init(agentStatus: Int32) {
        self = agentStatus > 128 && agentStatus < 160 ? .signaled(agentStatus - 128) : .exited(agentStatus)
    }

    /// Lambda's wording: `exit status 1`, `signal: killed`.
    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "signal: \(Self.signalName(signal))"
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: "killed"
        case SIGTERM: "terminated"
        case SIGSEGV: "segmentation fault"
        case SIGABRT: "aborted"
        case SIGINT: "interrupt"
        case SIGBUS: "bus error"
        case SIGILL: "illegal instruction"
        case SIGFPE: "floating point exception"
        default: "\(signal)"
        }
    }
}

/// Counters a backend reads from the sandbox's cgroup.
public struct SandboxStats: Sendable, Equatable {
    public var memoryPeakBytes: Int
    public var oomKilled: Bool

    public init(memoryPeakBytes: Int, oomKilled: Bool) {
        self.memoryPeakBytes = memoryPeakBytes
        self.oomKilled = oomKilled
    }
}

/// Which stream a chunk of sandbox output came from. `telemetry`: the pipe at fd 4 inside the sandbox, where
/// awslambdaric writes framed log records (`_LAMBDA_TELEMETRY_LOG_FD`), so a multi-line message stays one event.
public enum SandboxStream: Sendable, CaseIterable { case stdout, stderr, telemetry }

/// A running sandbox.
public protocol SandboxInstance: Sendable {
    var id: String { get }
    /// The listening socket the runtime's Runtime API client connects to (`AWS_LAMBDA_RUNTIME_API`, inside the
    /// sandbox), for the host to serve. Waits until the sandbox has made it; the caller owns the descriptor.
    /// Only this sandbox can reach it, so whoever connects *is* this environment.
    func runtimeAPIListener() async throws -> Int32
    /// Waits until the sandbox has ended.
    func exit() async -> SandboxExit
    /// Peak memory and the OOM state; after the runtime exited, as they were at that moment.
    func stats() -> SandboxStats
    /// Returns once everything the sandbox wrote before this call has reached the output callback.
    func flushOutput() async
    /// Kills the sandbox and removes everything it had on the host. Safe to call twice, and after it ended.
    func stop() async
}

/// The isolation boundary. A backend starts sandboxes from specs and cleans up what a crash left.
public protocol SandboxBackend: Sendable {
    /// What `/health` and the start-up log say, e.g. `crun 1.8.1, cgroup v1 (hybrid: private-mount workaround)`.
    var summary: String { get }
    func start(_ spec: SandboxSpec, output: @escaping @Sendable (SandboxStream, [UInt8]) -> Void) async throws -> any SandboxInstance
    /// Removes sandboxes, cgroups and bundles left by an earlier run of this server. Returns how many.
    func sweep() async -> Int
    /// Releases what the backend prepared ahead (after every sandbox has stopped).
    func shutdown() async
}

extension SandboxBackend {
    public func shutdown() async {}
}

public struct SandboxError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
