import CIsolaSystem
import Foundation
import Synchronization

/// Hybrid cgroup hosts only: one idle process (`head`, reading a pipe) that lives inside the private mount
/// namespace crun must run in (the cgroup2 mount's `cgroup.controllers` bound to an empty file, see
/// sandbox-findings), so each crun call enters it with `nsenter --mount` instead of building it again.
///
/// Why: the per-call wrapper (`unshare`, `sh`, `mount`, then `exec crun`) costs about 3.3 ms, `nsenter` about
/// 1.3 ms (measured here), and every cold start and every teardown runs crun. The namespace is the same one the
/// wrapper made each time: private, slave propagation, nothing changed outside it.
///
/// The holder reads a pipe whose only writer is this server: when the server exits, even by kill -9, the pipe
/// ends, the holder exits, and its namespace goes with the last process in it. Nothing is left for a sweep.
final class MountNamespaceHolder: Sendable {
    let process: ChildProcess
    /// The server's end of the holder's pipe (close-on-exec, so no other child inherits it).
    private let lifeline: Int32
    private let closed = Atomic<Bool>(false)
    /// `/proc/<pid>/ns/mnt`, what nsenter enters.
    let namespacePath: String
    /// What that link read when the holder was ready (`mnt:[<inode>]`): if the holder dies and its pid is reused,
    /// the link reads differently, and crun is not sent into someone else's namespace.
    let namespaceIdentity: String

    static let mountPoint = "/sys/fs/cgroup/unified/cgroup.controllers"

    /// Starts the holder and waits (up to 2 s) until its namespace is patched; throws when it cannot be.
    init(emptyControllers: URL) throws {
        var pipe: [Int32] = [-1, -1]
        guard isola_pipe_cloexec(&pipe) == 0 else { throw SandboxError("pipe2 failed: errno \(errno)") }
        let quoted = "'\(emptyControllers.path.replacingOccurrences(of: "'", with: "'\\''"))'"
        do {
            process = try ChildProcess(
                [
                    "/usr/bin/unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c",
                    "mount --bind \(quoted) \(Self.mountPoint) && exec /usr/bin/head -c 1 <&3",
                ], passing: pipe[0]
            ) { _, _ in }
        } catch {
            close(pipe[0])
            close(pipe[1])
            throw error
        }
        close(pipe[0])
        lifeline = pipe[1]
        namespacePath = "/proc/\(process.pid)/ns/mnt"
        let own = Self.readLink("/proc/self/ns/mnt")
        var identity: String?
        for _ in 0..<1_000 where !process.hasExited {
            // Ready once `head` runs (after the mount) in a namespace that is not ours.
            if let link = Self.readLink(namespacePath), link != own, Self.command(of: process.pid) == "head" {
                identity = link
                break
            }
            usleep(2_000)
        }
        guard let identity else {
            close(lifeline)
            kill(process.pid, SIGKILL)
            throw SandboxError("the mount namespace holder did not start (unshare, mount --bind \(Self.mountPoint))")
        }
        namespaceIdentity = identity
    }

    /// The holder is alive and its pid still names the namespace it made.
    var isIntact: Bool { !process.hasExited && Self.readLink(namespacePath) == namespaceIdentity }

    /// `command` run inside the holder's namespace.
    func wrap(_ command: [String]) -> [String] {
        ["/usr/bin/nsenter", "--mount=\(namespacePath)", "--"] + command
    }

    func stop() async {
        abandon()
        _ = await process.wait()
    }

    /// Ends the holder without waiting for it (its reaper thread collects it).
    func abandon() {
        if closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged { close(lifeline) }
        kill(process.pid, SIGKILL)
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 128)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func command(of pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
