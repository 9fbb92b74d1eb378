import Foundation
import Synchronization

/// On cgroup v1 hosts, moving a task into a cgroup waits for an RCU grace period (6-14 ms) unless another move
/// happened a few milliseconds before (sandbox-findings): every sandbox start paid it, about a quarter of a cold
/// start. While sandboxes are starting (for `activeFor` after the last one), this keeps the kernel's path warm by
/// moving one idle helper process (`sleep`) between two empty cgroups of this server's own subtree every 2 ms,
/// which costs a write system call each. Nothing outside that subtree changes; cgroup v2 does not need it.
final class AttachWarmer: Sendable {
    let directories: [String]
    let helper: ChildProcess
    private let lastStart = Mutex<ContinuousClock.Instant?>(nil)
    private let stopped = Atomic<Bool>(false)
    static let activeFor: Duration = .seconds(10)

    /// `parent`: this server's subtree in the v1 pids hierarchy, e.g. /sys/fs/cgroup/pids/isola/<instance>.
    init(parent: String) throws {
        directories = ["\(parent)/attach-warm-a", "\(parent)/attach-warm-b"]
        for directory in directories {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        helper = try ChildProcess(["/bin/sleep", "2147483647"]) { _, _ in }
        let thread = Thread { [self] in self.loop() }
        thread.stackSize = 64 * 1024
        thread.start()
    }

    /// A sandbox is about to start: keep the path warm for the next ones.
    func touch() { lastStart.withLock { $0 = .now } }

    private func loop() {
        var next = 0
        let pid = Array("\(helper.pid)".utf8)
        while !stopped.load(ordering: .relaxed) {
            let active = lastStart.withLock { $0.map { ContinuousClock.now - $0 < Self.activeFor } ?? false }
            guard active else {
                usleep(50_000)
                continue
            }
            let fd = open(directories[next] + "/cgroup.procs", O_WRONLY)
            if fd >= 0 {
                _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
            next = 1 - next
            usleep(2_000)
        }
    }

    /// Stops the thread, kills the helper and removes the two cgroups.
    func stop() async {
        stopped.store(true, ordering: .relaxed)
        kill(helper.pid, SIGKILL)
        _ = await helper.wait()
        try? await Task.sleep(for: .milliseconds(60))  // the loop's last turn
        for directory in directories { rmdir(directory) }
    }
}
