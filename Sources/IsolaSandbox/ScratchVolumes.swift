import Foundation
import Logging
import Synchronization

/// Each sandbox's `/tmp`: a loop-mounted ext4 image of the function's EphemeralStorage size, on disk.
///
/// Why not tmpfs: tmpfs pages are charged to the memory cgroup of whoever writes them, so a 128 MB function
/// could not write 512 MB to `/tmp` as it can on AWS. Disk-backed page cache is reclaimable, so it is not.
/// The image is sparse (it takes disk only as it fills) and bounds the size exactly. Volumes are formatted and
/// mounted ahead of need (a small pool per size), so a cold start only takes one.
actor ScratchVolumes {
    struct Volume: Sendable {
        let id: String
        let sizeMB: Int
        let image: URL
        let mountPoint: URL
    }

    let directory: URL
    /// Ready volumes kept per size; refilled in the background after each take.
    let poolTarget: Int
    private var pool: [Int: [Volume]] = [:]
    private var refills: [Int: Task<Void, Never>] = [:]
    private let logger: Logger

    /// Hybrid hosts: the folder is made a shared mount before the first volume is mounted in it (`shareFolder`).
    let sharesMounts: Bool

    init(directory: URL, poolTarget: Int = 2, sharesMounts: Bool = false, logger: Logger) throws {
        self.directory = directory
        self.poolTarget = poolTarget
        self.sharesMounts = sharesMounts
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
    }

    /// A mounted, empty, world-writable (sticky) volume of at least `sizeMB` usable megabytes.
    func take(sizeMB: Int) async throws -> Volume {
        defer { refill(sizeMB) }
        if var ready = pool[sizeMB], let volume = ready.popLast() {
            pool[sizeMB] = ready
            return volume
        }
        return try await Self.prepare(sizeMB: sizeMB, in: directory, share: sharesMounts)
    }

    func release(_ volume: Volume) async {
        await Self.destroy(volume)
    }

    private func refill(_ sizeMB: Int) {
        guard refills[sizeMB] == nil else { return }
        // Unstructured: formatting ahead must not delay the cold start that triggered it; tracked for shutdown.
        refills[sizeMB] = Task {
            while (pool[sizeMB]?.count ?? 0) < poolTarget, !Task.isCancelled {
                do {
                    let volume = try await Self.prepare(sizeMB: sizeMB, in: directory, share: sharesMounts)
                    pool[sizeMB, default: []].append(volume)
                } catch {
                    logger.warning("cannot prepare a /tmp volume ahead", metadata: ["error": "\(error)"])
                    break
                }
            }
            refills[sizeMB] = nil
        }
    }

    /// Makes the folder a shared mount point of its own (a bind onto itself), so that volumes mounted in it later
    /// also appear in mount namespaces copied from this one with slave propagation: the namespace crun runs in
    /// on hybrid hosts (MountNamespaceHolder) is made once, before most volumes exist, and this host's mounts are
    /// private. Idempotent: a bind a crashed run left is reused. `unshareFolder()` undoes it at shutdown.
    /// Must run before any volume is mounted in the folder (a bind onto itself would hide those): volumes call it
    /// before their mount, and the holder before it starts. One caller at a time, so binds never stack.
    nonisolated static func shareFolder(_ directory: URL) throws {
        try sharing.withLock { _ in
            if !isMountPoint(directory.path) {
                guard mount(directory.path, directory.path, nil, UInt(MS_BIND), nil) == 0 else {
                    throw SandboxError("cannot bind the /tmp volume folder onto itself: errno \(errno)")
                }
            }
            guard mount("none", directory.path, nil, UInt(MS_SHARED), nil) == 0 else {
                throw SandboxError("cannot make the /tmp volume folder a shared mount: errno \(errno)")
            }
        }
    }

    private static let sharing = Mutex<Void>(())

    nonisolated static func unshareFolder(_ directory: URL) {
        sharing.withLock { _ in
            if isMountPoint(directory.path) { _ = umount2(directory.path, Int32(MNT_DETACH)) }
        }
    }

    /// Whether `path` is itself a mount point in this mount namespace (per /proc/self/mountinfo's fifth field).
    nonisolated static func isMountPoint(_ path: String) -> Bool {
        guard let table = KernelFile.read("/proc/self/mountinfo") else { return false }
        return table.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ", maxSplits: 5)
            return fields.count > 4 && fields[4] == path
        }
    }

    /// Unmounts and deletes every pooled volume (shutdown).
    func drain() async {
        for task in refills.values { task.cancel() }
        for task in refills.values { await task.value }
        for volume in pool.values.flatMap({ $0 }) { await Self.destroy(volume) }
        pool = [:]
    }

    /// Removes what a crash left: every mount and image under the directory.
    func sweep() async -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names where !name.hasSuffix(".img") {
            _ = try? await ChildProcess.run(["/usr/bin/umount", "-l", directory.appendingPathComponent(name).path])
        }
        for name in names { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        return names.filter { $0.hasSuffix(".img") }.count
    }

    static func prepare(sizeMB: Int, in directory: URL, share: Bool = false) async throws -> Volume {
        let id = UUID().uuidString.lowercased()
        let image = directory.appendingPathComponent("\(id).img")
        let mountPoint = directory.appendingPathComponent(id)
        // ext4 (no journal, no resize inode, one inode per 64 KB) keeps about 8 MB + 0.5% for itself: sized so that
        // the usable space is what was asked, within a few MB (measured from 512 MB to 10 GB).
        let bytes = (Int64(sizeMB) + 10 + Int64(sizeMB) / 200) * 1_048_576
        guard FileManager.default.createFile(atPath: image.path, contents: nil, attributes: [.posixPermissions: 0o600]),
            truncate(image.path, off_t(bytes)) == 0
        else { throw SandboxError("cannot create the /tmp image \(image.path): errno \(errno)") }
        let volume = Volume(id: id, sizeMB: sizeMB, image: image, mountPoint: mountPoint)
        do {
            let format = try await ChildProcess.run(["/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal,^resize_inode", "-i", "65536", image.path])
            guard format.status == 0 else { throw SandboxError("mkfs.ext4 failed: \(format.output)") }
            try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: false)
            if share { try shareFolder(directory) }
            let mount = try await ChildProcess.run(["/usr/bin/mount", "-o", "loop,nosuid,nodev", image.path, mountPoint.path])
            guard mount.status == 0 else { throw SandboxError("mounting the /tmp image failed: \(mount.output)") }
            // lost+found belongs to no one in the sandbox; /tmp is world-writable with the sticky bit, as usual.
            try? FileManager.default.removeItem(at: mountPoint.appendingPathComponent("lost+found"))
            guard chmod(mountPoint.path, 0o1777) == 0 else { throw SandboxError("chmod of /tmp failed: errno \(errno)") }
        } catch {
            await destroy(volume)
            throw error
        }
        return volume
    }

    static func destroy(_ volume: Volume) async {
        if let result = try? await ChildProcess.run(["/usr/bin/umount", volume.mountPoint.path]), result.status != 0 {
            _ = try? await ChildProcess.run(["/usr/bin/umount", "-l", volume.mountPoint.path])
        }
        try? FileManager.default.removeItem(at: volume.mountPoint)
        try? FileManager.default.removeItem(at: volume.image)
    }
}
