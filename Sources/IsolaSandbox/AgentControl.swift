import CFDPassing
import CIsolaSystem
import Foundation

/// The private line between the host and one sandbox's agent: a Unix socket pair (SOCK_SEQPACKET: one message is
/// one report) made before the sandbox starts,
/// one end passed into the sandbox as fd 3 (crun `--preserve-fds`), which the agent keeps from the runtime.
///
/// Over it the agent hands the host its Runtime API listener (127.0.0.1:9001 inside the sandbox's own network
/// namespace), so the host serves the runtime directly instead of through a relay; later it reports the runtime's
/// exit, and the host reads the cgroup's counters before answering (the cgroup goes with the agent).
final class AgentControl: @unchecked Sendable {
    /// The host's end (close-on-exec, so no other spawned process inherits it).
    let hostEnd: Int32
    /// The sandbox's end; `ChildProcess` places it at fd 3 of crun, and the host closes its copy after the spawn.
    private(set) var sandboxEnd: Int32
    /// The listener, once the agent handed it over, or why it never will.
    let listener = Latch<Result<Int32, SandboxError>>()
    private let lock = NSLock()
    private var statsAtExit: SandboxStats?
    private var listenerTaken = false

    /// How long the agent may take to hand over its listener after crun was started.
    static let handoverTimeoutMs: Int32 = 30_000

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard isola_socketpair_cloexec(&ends) == 0 else { throw SandboxError("socketpair failed: errno \(errno)") }
        hostEnd = ends[0]
        // ChildProcess places it at fd 3 of crun, which a descriptor that is already 3 could not be.
        if ends[1] == 3 {
            let moved = fcntl(ends[1], F_DUPFD_CLOEXEC, 10)
            close(ends[1])
            ends[1] = moved
        }
        guard ends[1] >= 0 else {
            close(ends[0])
            throw SandboxError("cannot move the sandbox's control socket: errno \(errno)")
        }
        sandboxEnd = ends[1]
    }

    /// Call once crun has been spawned (it holds its own copy): the host's copy would keep the line open forever.
    func closeSandboxEnd() {
        if sandboxEnd >= 0 { close(sandboxEnd) }
        sandboxEnd = -1
    }

    /// The agent's listener, once: the caller owns the descriptor.
    func takeListener() async throws -> Int32 {
        let first = lock.withLock {
            defer { listenerTaken = true }
            return !listenerTaken
        }
        guard first else { throw SandboxError("the Runtime API listener was already taken") }
        return try await listener.wait().get()
    }

    var stats: SandboxStats? { lock.withLock { statsAtExit } }

    /// Runs on the thread that then reaps crun: takes the listener, then waits for the exit report (or the end of
    /// the line, when the agent is killed) and answers it after `readStats`. Returns when every copy of the
    /// sandbox's end is closed, that is, when the agent and crun are gone.
    func serve(readStats: () -> SandboxStats) {
        defer { close(hostEnd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        var poller = pollfd(fd: hostEnd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&poller, 1, Self.handoverTimeoutMs) } while ready < 0 && errno == EINTR
        guard ready > 0 else {
            return abandon("the sandbox's agent did not hand over its Runtime API listener within \(Self.handoverTimeoutMs / 1000) s")
        }
        var passed: Int32 = -1
        let count = buffer.withUnsafeMutableBytes { isola_recv_fd(hostEnd, &passed, $0.baseAddress, $0.count) }
        guard count > 0, passed >= 0 else {
            if passed >= 0 { close(passed) }
            return abandon("the sandbox ended before its agent handed over the Runtime API listener")
        }
        // Trust nothing that came out of a sandbox: it must be the loopback listener the agent makes.
        guard String(decoding: buffer[0..<count], as: UTF8.self) == "listener", isola_is_loopback_listener(passed, 9001) == 1 else {
            close(passed)
            return abandon("the sandbox handed over something other than its Runtime API listener")
        }
        if !listener.fulfil(.success(passed)) { close(passed) }
        // Then one message, `exit <status>`, just before the agent exits; descriptors are not accepted any more.
        while true {
            var extra: Int32 = -1
            let n = buffer.withUnsafeMutableBytes { isola_recv_fd(hostEnd, &extra, $0.baseAddress, $0.count) }
            if extra >= 0 { close(extra) }
            if n <= 0 { break }
            guard buffer[0..<n].starts(with: Array("exit ".utf8)) else { continue }
            recordStats(readStats())
            _ = send(hostEnd, "k", 1, Int32(MSG_NOSIGNAL))
        }
    }

    private func recordStats(_ stats: SandboxStats) {
        lock.withLock { if statsAtExit == nil { statsAtExit = stats } }
    }

    private func abandon(_ reason: String) {
        listener.fulfil(.failure(SandboxError(reason)))
    }
}
