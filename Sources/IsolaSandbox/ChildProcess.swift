import CIsolaSystem
import Foundation

/// A child process started with `posix_spawn`, its stdout/stderr read by two threads and its exit awaited by a
/// third. (Foundation's `Process` costs 12-70 ms per launch here; this is the launch on every cold start.)
final class ChildProcess: Sendable {
    let pid: pid_t
    private let latch = Latch<Int32>()
    private let fences: OutputFences

    /// Starts `argv`; every file descriptor but the three standard ones (and `passing`, placed at fd 3, and with
    /// `telemetry` the write end of a third output pipe at fd 4) is closed in the child. `beforeReaping` runs on
    /// the waiting thread before it waits for the child's exit.
    init(
        _ argv: [String], passing: Int32? = nil, telemetry: Bool = false, beforeReaping: (@Sendable () -> Void)? = nil,
        output: @escaping @Sendable (SandboxStream, [UInt8]) -> Void
    ) throws {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        var telemetryPipe: [Int32] = [-1, -1]
        guard isola_pipe_cloexec(&outPipe) == 0, isola_pipe_cloexec(&errPipe) == 0, !telemetry || isola_pipe_cloexec(&telemetryPipe) == 0 else {
            throw SandboxError("pipe2 failed: errno \(errno)")
        }
        if telemetry, passing == nil { throw SandboxError("the telemetry pipe goes to fd 4, after a passed descriptor at fd 3") }
        // dup2 onto itself would leave close-on-exec set: the descriptor to pass must not already be fd 3.
        if passing == 3 { throw SandboxError("the descriptor to pass into the child is already fd 3") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if let passing {
            posix_spawn_file_actions_adddup2(&actions, passing, 3)
            if telemetry { posix_spawn_file_actions_adddup2(&actions, telemetryPipe[1], 4) }
            isola_spawn_closefrom(&actions, telemetry ? 5 : 4)
        } else {
            isola_spawn_closefrom(&actions, 3)
        }
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
        // The write ends stay open here too, so `flushOutput` can put a fence behind everything already written.
        let pipes = [outPipe, errPipe] + (telemetry ? [telemetryPipe] : [])
        guard result == 0 else {
            for fd in pipes.flatMap({ $0 }) { close(fd) }
            throw SandboxError("cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        let streams: [SandboxStream] = telemetry ? [.stdout, .stderr, .telemetry] : [.stdout, .stderr]
        let fences = OutputFences(writeEnds: pipes.map { $0[1] }, streams: streams)
        self.fences = fences
        let pid = spawned
        self.pid = pid
        for (fd, stream) in zip(pipes.map { $0[0] }, streams) {
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                var scanner = FenceScanner()
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    let (text, fencesSeen) = scanner.scan(buffer[0..<n])
                    if !text.isEmpty { output(stream, text) }
                    for _ in 0..<fencesSeen { fences.passed(stream) }
                }
                close(fd)
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }
        let latch = self.latch
        let waiter = Thread {
            beforeReaping?()
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            // Our write ends are the last ones: closing them lets the readers see the end of the output.
            fences.close()
            latch.fulfil(signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }
        waiter.stackSize = 128 * 1024
        waiter.start()
    }

    /// The exit code, or 128 + the signal that ended it.
    func wait() async -> Int32 {
        await latch.wait()
    }

    var hasExited: Bool { latch.value != nil }

    /// Returns once everything the child wrote to stdout and stderr before this call has been handed to
    /// `output` (or after `timeout`): a fence written behind it must come out of both readers first.
    func flushOutput(timeout: Duration = .milliseconds(200)) async {
        await fences.fence(timeout: timeout)
    }

    /// Runs a short command to completion and returns its exit code and combined output.
    static func run(_ argv: [String]) async throws -> (status: Int32, output: String) {
        let collected = OutputBuffer()
        let child = try ChildProcess(argv) { _, bytes in collected.append(bytes) }
        let status = await child.wait()
        return (status, collected.text)
    }
}

/// A one-shot value many tasks can wait for.
final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    func append(_ chunk: [UInt8]) { lock.withLock { bytes += chunk } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}

/// The fence marker: bytes no text output contains; a fence is written atomically (under PIPE_BUF).
let fenceMarker: [UInt8] = [0x00, 0xFF, 0x69, 0x73, 0x6F, 0x6C, 0x61, 0x2D, 0x66, 0x65, 0x6E, 0x63, 0x65, 0xFF, 0x00, 0x1E]

/// Strips fence markers from a stream, also when a read splits one.
struct FenceScanner {
    private var carry: [UInt8] = []

    /// The output without markers, and how many markers went by.
    mutating func scan(_ chunk: ArraySlice<UInt8>) -> ([UInt8], Int) {
        var bytes = carry + chunk
        carry = []
        var seen = 0
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == fenceMarker[0] {
                let available = min(fenceMarker.count, bytes.count - i)
                if Array(bytes[i..<(i + available)]) == Array(fenceMarker[0..<available]) {
                    if available == fenceMarker.count {
                        seen += 1
                        i += fenceMarker.count
                        continue
                    }
                    carry = Array(bytes[i...])  // a marker may continue in the next read
                    bytes.removeAll()
                    break
                }
            }
            out.append(bytes[i])
            i += 1
        }
        return (out, seen)
    }
}

/// The host's write ends of a child's output pipes, and the waiters for fences to come out of the readers.
final class OutputFences: @unchecked Sendable {
    private let lock = NSLock()
    private var writeEnds: [Int32]
    private var written = 0
    private var passed: [SandboxStream: Int]
    private let streams: [SandboxStream]
    private var waiters: [(target: Int, latch: Latch<Int32>)] = []

    init(writeEnds: [Int32], streams: [SandboxStream]) {
        self.writeEnds = writeEnds
        self.streams = streams
        passed = Dictionary(uniqueKeysWithValues: streams.map { ($0, 0) })
    }

    func fence(timeout: Duration) async {
        let latch = Latch<Int32>()
        let ends: [Int32] = lock.withLock {
            written += 1
            waiters.append((written, latch))
            return writeEnds
        }
        guard ends.count == streams.count else { return }
        for fd in ends { _ = fenceMarker.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            latch.fulfil(1)
        }
        _ = await latch.wait()
        timer.cancel()
    }

    func passed(_ stream: SandboxStream) {
        let ready: [Latch<Int32>] = lock.withLock {
            passed[stream, default: 0] += 1
            let done = streams.map { passed[$0, default: 0] }.min() ?? 0
            let due = waiters.filter { $0.target <= done }.map(\.latch)
            waiters.removeAll { $0.target <= done }
            return due
        }
        for latch in ready { latch.fulfil(0) }
    }

    func close() {
        let ends: [Int32] = lock.withLock {
            defer { writeEnds = [] }
            return writeEnds
        }
        for fd in ends { Glibc.close(fd) }
        let pending: [Latch<Int32>] = lock.withLock {
            defer { waiters = [] }
            return waiters.map(\.latch)
        }
        for latch in pending { latch.fulfil(1) }
    }
}
