import Foundation
import Logging
import Synchronization

/// The real sandbox: one crun container per execution environment.
///
/// Layout: under `stateDirectory` (private, 0700) `crun/` (crun's own state, so a sweep sees only Isola's
/// containers), `bundles/<id>/config.json` and `scratch/` (the `/tmp` volumes); under `sharedDirectory` the
/// read-only `rootfs/` and `etc/` every sandbox shares. The shared folder must be traversable by the sandboxes'
/// mapped users (crun mounts the rootfs as the container's root), so it lives apart from the data directory,
/// which may sit below a private folder. On hybrid cgroup hosts every crun call runs
/// inside a private mount namespace where the cgroup2 mount's `cgroup.controllers` reads empty (see
/// sandbox-findings); nothing changes outside that namespace.
public final class CrunBackend: SandboxBackend {
    public let summary: String
    let crun: String
    let layout: CgroupLayout
    let stateDirectory: URL
    let sharedDirectory: URL
    let agent: URL
    let seccompBPF: String
    let emptyControllers: URL
    let scratch: ScratchVolumes
    /// Every sandbox's cgroup lives under this server's own parent (`/isola/<instance>`), so a sweep finds what a
    /// crash left, and never touches another Isola server's sandboxes on the same host.
    let cgroupParent: String
    let logger: Logger
    /// Cgroup v1 only: keeps task moves cheap while sandboxes are starting (see AttachWarmer). Made at the first
    /// start, after the start-up sweep (which kills whatever runs in this server's cgroups, a crashed run's helper too).
    private let attachWarmer = Mutex<AttachWarmer?>(nil)
    private let warmsAttaches: Bool
    /// Hybrid hosts: the private mount namespace crun runs in, kept by one idle process (see MountNamespaceHolder).
    /// Made at the first crun call, so a server that never runs a sandbox mounts nothing; if it cannot start, each
    /// crun call builds the namespace itself (the wrapper in `crunCommand`).
    private let mountNamespace = Mutex<MountNamespaceState>(.notStarted)
    enum MountNamespaceState {
        case notStarted, running(MountNamespaceHolder), unavailable
    }

    /// `instance` names this server's cgroup subtree: letters, digits and `-` (the server uses a hash of its data directory).
    public init(stateDirectory: URL, sharedDirectory: URL, agent: URL, instance: String, logger: Logger) throws {
        guard !instance.isEmpty, instance.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw SandboxError("invalid sandbox instance name '\(instance)'")
        }
        cgroupParent = "/isola/\(instance)"
        guard let crun = HostProbe.crunPath() else {
            throw SandboxError("crun is not installed. Install Debian's package (apt-get install crun), or set ISOLA_CRUN to its path.")
        }
        guard FileManager.default.isExecutableFile(atPath: agent.path) else {
            throw SandboxError("The sandbox agent is missing at \(agent.path). Build it with scripts/setup (a static isola-agent), or pass --runtime-dir.")
        }
        self.crun = crun
        self.layout = HostProbe.cgroupLayout()
        self.stateDirectory = stateDirectory
        self.sharedDirectory = sharedDirectory
        self.agent = agent
        self.logger = logger
        let fm = FileManager.default
        for directory in [stateDirectory, stateDirectory.appendingPathComponent("crun"), stateDirectory.appendingPathComponent("bundles")] {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
            try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        }
        try fm.createDirectory(at: sharedDirectory, withIntermediateDirectories: true)
        for directory in [sharedDirectory, sharedDirectory.deletingLastPathComponent()] {
            try fm.setAttributes([.posixPermissions: 0o711], ofItemAtPath: directory.path)
        }
        try OCIBundle.prepareRootfs(sharedDirectory.appendingPathComponent("rootfs"))
        try OCIBundle.prepareEtc(sharedDirectory.appendingPathComponent("etc"))
        emptyControllers = stateDirectory.appendingPathComponent("empty-cgroup-controllers")
        if !fm.fileExists(atPath: emptyControllers.path) { _ = fm.createFile(atPath: emptyControllers.path, contents: nil) }
        seccompBPF = try SeccompProfile.compileBPF().base64EncodedString()
        scratch = try ScratchVolumes(directory: stateDirectory.appendingPathComponent("scratch"), sharesMounts: layout == .hybrid, logger: logger)
        warmsAttaches = layout != .v2 && FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids")
        summary = "crun at \(crun), \(layout.rawValue), seccomp BPF precompiled\(layout == .hybrid ? ", crun's mount namespace kept by a holder process" : "")\(warmsAttaches ? ", v1 attach path kept warm while sandboxes start" : "")"
    }

    /// crun's command line, wrapped for hybrid hosts.
    func crunCommand(_ arguments: [String]) -> [String] {
        let base = [crun, "--root", stateDirectory.appendingPathComponent("crun").path] + arguments
        guard layout == .hybrid else { return base }
        if let holder = mountNamespaceHolder() { return holder.wrap(base) }
        let quoted = base.map { "'\($0.replacingOccurrences(of: "'", with: "'\\''"))'" }.joined(separator: " ")
        return [
            "/usr/bin/unshare", "--mount", "--propagation", "slave", "/bin/sh", "-c",
            "mount --bind '\(emptyControllers.path)' /sys/fs/cgroup/unified/cgroup.controllers && exec \(quoted)",
        ]
    }

    /// The holder of crun's mount namespace, started on first use (hybrid hosts); nil when it cannot run.
    private func mountNamespaceHolder() -> MountNamespaceHolder? {
        mountNamespace.withLock { state in
            switch state {
            case .running(let holder):
                if holder.isIntact { return holder }
                holder.abandon()
                logger.warning("crun's mount namespace holder exited; starting another")
            case .unavailable:
                return nil
            case .notStarted:
                break
            }
            do {
                // Volumes mounted after the holder starts must show inside its namespace.
                try ScratchVolumes.shareFolder(scratch.directory)
                let holder = try MountNamespaceHolder(emptyControllers: emptyControllers)
                state = .running(holder)
                return holder
            } catch {
                logger.warning("crun's mount namespace will be built for every call (about 2 ms more each)", metadata: ["reason": "\(error)"])
                state = .unavailable
                return nil
            }
        }
    }

    public func start(_ spec: SandboxSpec, output: @escaping @Sendable (SandboxStream, [UInt8]) -> Void) async throws -> any SandboxInstance {
        guard !spec.id.isEmpty, spec.id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw SandboxError("invalid sandbox id '\(spec.id)'")
        }
        if warmsAttaches {
            let parent = "/sys/fs/cgroup/pids\(cgroupParent)"
            attachWarmer.withLock { warmer in
                if warmer == nil { warmer = try? AttachWarmer(parent: parent) }
                warmer?.touch()
            }
        }
        let bundle = stateDirectory.appendingPathComponent("bundles/\(spec.id)")
        try FileManager.default.createDirectory(at: bundle, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let volume = try await scratch.take(sizeMB: spec.ephemeralStorageMB)
        do {
            let configuration = OCIBundle.configuration(
                spec, rootfs: sharedDirectory.appendingPathComponent("rootfs"), etc: sharedDirectory.appendingPathComponent("etc"),
                agent: agent, scratch: volume.mountPoint, seccompBPF: seccompBPF, cgroupParent: cgroupParent
            )
            try JSONSerialization.data(withJSONObject: configuration).write(to: bundle.appendingPathComponent("config.json"))
            let control = try AgentControl()
            let id = spec.id
            let process: ChildProcess
            do {
                process = try ChildProcess(
                    crunCommand(["run", "--preserve-fds", "2", "--bundle", bundle.path, spec.id]), passing: control.sandboxEnd, telemetry: true,
                    beforeReaping: { [self] in control.serve { self.liveStats(id) } }, output: output
                )
            } catch {
                control.closeSandboxEnd()
                close(control.hostEnd)
                throw error
            }
            control.closeSandboxEnd()
            return CrunSandbox(id: spec.id, backend: self, process: process, control: control, bundle: bundle, volume: volume)
        } catch {
            await scratch.release(volume)
            try? FileManager.default.removeItem(at: bundle)
            throw error
        }
    }

    /// Unmounts the volumes formatted ahead; call after every sandbox has stopped.
    public func shutdown() async {
        await attachWarmer.withLock { warmer in defer { warmer = nil }; return warmer }?.stop()
        await scratch.drain()
        let holder: MountNamespaceHolder? = mountNamespace.withLock { state in
            defer { state = .unavailable }
            if case .running(let holder) = state { return holder }
            return nil
        }
        if let holder { await holder.stop() }
        ScratchVolumes.unshareFolder(scratch.directory)
        // The shared root (read-only binds of files only, nothing mounted in it) and its folder, if now empty.
        try? FileManager.default.removeItem(at: sharedDirectory)
        rmdir(sharedDirectory.deletingLastPathComponent().path)
        // This server's (now empty) cgroup parents.
        for controller in ["memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd", "unified", ""] {
            rmdir("/sys/fs/cgroup/\(controller)\(controller.isEmpty ? "" : "/")\(cgroupParent.dropFirst())")
        }
    }

    public func sweep() async -> Int {
        let stateRoot = stateDirectory.appendingPathComponent("crun")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: stateRoot.path)) ?? []
        for id in leftovers where id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            _ = try? await ChildProcess.run(crunCommand(["kill", id, "KILL"]))
            _ = try? await ChildProcess.run(crunCommand(["delete", "-f", id]))
        }
        let bundles = stateDirectory.appendingPathComponent("bundles")
        let stale = (try? FileManager.default.contentsOfDirectory(atPath: bundles.path)) ?? []
        for name in stale { try? FileManager.default.removeItem(at: bundles.appendingPathComponent(name)) }
        // Processes of sandboxes whose crun died with the server (kill -9): their cgroups still list them.
        for cgroupRoot in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            let parent = "\(cgroupRoot)\(cgroupParent)"
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                let procs = KernelFile.read("\(parent)/\(child)/cgroup.procs") ?? ""
                for pid in procs.split(separator: "\n").compactMap({ Int32($0) }) where pid > 1 { kill(pid, SIGKILL) }
            }
        }
        if !leftovers.isEmpty { try? await Task.sleep(for: .milliseconds(100)) }
        // Cgroups crun could not remove (it removes its own on delete); empty ones only, so rmdir is safe.
        for controller in ["memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd", "unified", ""] {
            let parent = "/sys/fs/cgroup/\(controller)\(controller.isEmpty ? "" : "/")\(cgroupParent.dropFirst())"
            for child in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
                rmdir("\(parent)/\(child)")
            }
        }
        let volumes = await scratch.sweep()
        return max(leftovers.count, stale.count, volumes)
    }

    /// Reads one of this sandbox's cgroup files (v1 memory controller, or the v2 unified tree).
    func cgroupValue(_ id: String, v1 file: String, v2 v2file: String) -> String? {
        let path = layout == .v2
            ? "/sys/fs/cgroup\(cgroupParent)/\(id)/\(v2file)"
            : "/sys/fs/cgroup/memory\(cgroupParent)/\(id)/\(file)"
        return try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// Peak memory and the OOM state, from the sandbox's cgroup while it exists (zeros once it is gone).
    func liveStats(_ id: String) -> SandboxStats {
        let peak = layout == .v2 ? cgroupValue(id, v1: "", v2: "memory.peak") : cgroupValue(id, v1: "memory.max_usage_in_bytes", v2: "")
        let oomText = layout == .v2 ? cgroupValue(id, v1: "", v2: "memory.events") : cgroupValue(id, v1: "memory.oom_control", v2: "")
        let oomKilled = oomText.map { text in
            text.split(separator: "\n").contains { line in
                let parts = line.split(separator: " ")
                return parts.count == 2 && (parts[0] == "oom_kill") && Int(parts[1]).map { $0 > 0 } == true
            }
        } ?? false
        return SandboxStats(memoryPeakBytes: Int(peak?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0, oomKilled: oomKilled)
    }
}

/// `@unchecked Sendable`: the only mutable state, `stopped`, is guarded by `lock`.
final class CrunSandbox: SandboxInstance, @unchecked Sendable {
    let id: String
    let backend: CrunBackend
    let process: ChildProcess
    let control: AgentControl
    let bundle: URL
    let volume: ScratchVolumes.Volume
    private let stopping = Latch<Int32>()
    private let lock = NSLock()
    private var stopped = false

    init(id: String, backend: CrunBackend, process: ChildProcess, control: AgentControl, bundle: URL, volume: ScratchVolumes.Volume) {
        self.volume = volume
        self.id = id
        self.backend = backend
        self.process = process
        self.control = control
        self.bundle = bundle
    }

    func runtimeAPIListener() async throws -> Int32 {
        try await control.takeListener()
    }

    func exit() async -> SandboxExit {
        SandboxExit(agentStatus: await process.wait())
    }

    func flushOutput() async {
        await process.flushOutput()
    }

    /// The counters read when the agent reported the runtime's exit, else the live ones.
    func stats() -> SandboxStats {
        control.stats ?? backend.liveStats(id)
    }

    func stop() async {
        let first: Bool = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        if first {
            if !process.hasExited {
                _ = try? await ChildProcess.run(backend.crunCommand(["kill", id, "KILL"]))
            }
            _ = await process.wait()
            // At a lower CPU priority: deleting a container (cgroups, mounts) is not urgent, and on a small host it
            // would otherwise compete with the cold starts of tenants waiting right now.
            _ = try? await ChildProcess.run(["/usr/bin/nice", "-n", "10"] + backend.crunCommand(["delete", "-f", id]))
            try? FileManager.default.removeItem(at: bundle)
            await backend.scratch.release(volume)
            stopping.fulfil(0)
        } else {
            _ = await stopping.wait()
        }
    }
}
