import Foundation
import IsolaStore
import ZIPFoundation

/// Unpacks deployment packages into `<root>/<digest>/`, once per digest, for `/var/task`.
///
/// The zip was checked at upload (paths, symlinks, size). Unpacking goes to a temporary folder that is renamed
/// into place, so a crash never leaves a half-unpacked tree under a final name. Modes are normalized to
/// 0644/0755 (exec bits kept) so the sandbox user can read every file, as Lambda requires.
actor CodeUnpacker {
    let root: URL
    private var inProgress: [String: Task<URL, any Error>] = [:]

    init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        // Leftovers of an unpacking that a crash interrupted.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where name.hasPrefix(".tmp-") {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    func directory(for digest: String, zip: URL) async throws -> URL {
        let destination = root.appendingPathComponent(digest)
        if FileManager.default.fileExists(atPath: destination.path) { return destination }
        if let running = inProgress[digest] { return try await running.value }
        let scratch = root.appendingPathComponent(".tmp-\(UUID().uuidString)")
        let task = Task { try await Blocking.run { try Self.unpack(zip, into: destination, scratch: scratch) } }
        inProgress[digest] = task
        defer { inProgress[digest] = nil }
        return try await task.value
    }

    /// Removes unpacked trees whose digest is not in `keep`.
    func prune(keeping keep: Set<String>) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where !keep.contains(name) && !name.hasPrefix(".") {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    static func unpack(_ zip: URL, into destination: URL, scratch: URL) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        do {
            let archive = try Archive(url: zip, accessMode: .read)
            for entry in archive {
                let target = scratch.appendingPathComponent(entry.path)
                // Paths were checked at upload; check again that nothing lands outside the scratch folder.
                guard target.standardizedFileURL.path.hasPrefix(scratch.standardizedFileURL.path + "/") else {
                    throw EngineError("deployment package entry '\(entry.path)' leaves the code root")
                }
                _ = try archive.extract(entry, to: target, skipCRC32: false, allowUncontainedSymlinks: false)
            }
            try normalizeModes(scratch)
            try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: scratch.path)
            try fm.moveItem(at: scratch, to: destination)
        } catch {
            try? fm.removeItem(at: scratch)
            if fm.fileExists(atPath: destination.path) { return destination }
            throw error
        }
        return destination
    }

    static func normalizeModes(_ directory: URL) throws {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: directory.path) else { return }
        for case let relative as String in walker {
            let path = directory.appendingPathComponent(relative).path
            let attributes = try fm.attributesOfItem(atPath: path)
            if attributes[.type] as? FileAttributeType == .typeSymbolicLink { continue }
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o644
            let isDirectory = attributes[.type] as? FileAttributeType == .typeDirectory
            let executable = isDirectory || mode & 0o111 != 0
            try fm.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: path)
        }
    }
}
