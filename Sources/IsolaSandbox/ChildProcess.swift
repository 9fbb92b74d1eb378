import CIsolaSystem
import Foundation

/// A child process started with `posix_spawn`, its stdout/stderr read by two threads and its exit awaited by a
/// third. (Foundation's `Process` costs 12-70 ms per launch here; this is the launch on every cold start.)
final class ChildProcess: Sendable {
    let pid: pid_t
    private let latch = ExitLatch()

    /// Starts `argv`; every file descriptor but the three standard ones is closed in the child.
    init(_ argv: [String], output: @escaping @Sendable (SandboxStream, [UInt8]) -> Void) throws {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard isola_pipe_cloexec(&outPipe) == 0, isola_pipe_cloexec(&errPipe) == 0 else {
            throw SandboxError("pipe2 failed: errno \(errno)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        isola_spawn_closefrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        // A fresh signal mask and default dispositions: the server's own handling must not leak into crun.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs = argv.map { strdup($0) } + [nil]
        var spawned: pid_t = 0
        let result = posix_spawn(&spawned, argv[0], &actions, &attributes, &cArgs, isola_environ())
        for pointer in cArgs { free(pointer) }
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
        close(outPipe[1])
        close(errPipe[1])
        guard result == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw SandboxError("cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        let pid = spawned
        self.pid = pid
        for (fd, stream) in [(outPipe[0], SandboxStream.stdout), (errPipe[0], SandboxStream.stderr)] {
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    output(stream, Array(buffer[0..<n]))
                }
                close(fd)
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        let latch = self.latch
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            latch.open(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
        waiter.stackSize = 128 * 1024
        waiter.start()
    }

    /// The exit code, or 128 + the signal that ended it.
    func wait() async -> Int32 {
        await latch.wait()
    }

    var hasExited: Bool { latch.value != nil }

    /// Runs a short command to completion and returns its exit code and combined output.
    static func run(_ argv: [String]) async throws -> (status: Int32, output: String) {
        let collected = OutputBuffer()
        let child = try ChildProcess(argv) { _, bytes in collected.append(bytes) }
        let status = await child.wait()
        return (status, collected.text)
    }
}

/// A one-shot value many tasks can wait for.
final class ExitLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Int32?
    private var waiters: [CheckedContinuation<Int32, Never>] = []

    var value: Int32? { lock.withLock { result } }

    /// The first value wins; later calls are ignored.
    func open(_ value: Int32) {
        let toResume: [CheckedContinuation<Int32, Never>] = lock.withLock {
            guard result == nil else { return [] }
            result = value
            defer { waiters = [] }
            return waiters
        }
        for waiter in toResume { waiter.resume(returning: value) }
    }

    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let ready: Int32? = lock.withLock {
                if let result { return result }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ chunk: [UInt8]) { lock.withLock { bytes += chunk } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}
