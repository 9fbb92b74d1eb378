import Crypto
import Foundation
import Logging

/// A stored deployment package, named by the SHA-256 of its bytes.
public struct StoredCode: Sendable, Equatable {
    /// Hex SHA-256: the blob's file name and the key the store references.
    public var digest: String
    /// Base64 SHA-256: what Lambda returns as `CodeSha256`.
    public var sha256Base64: String
    public var size: Int
}

/// Content-addressed zip blobs under `<data-dir>/code/`.
///
/// Crash safety: a blob is written to a temporary file, synced, then renamed into place *before* the metadata
/// that references it commits, so a committed function never points at a missing or partial blob. A blob
/// written by a request that then failed or died is unreferenced; it is collected by `collect` (after deletes)
/// and by the sweep at start-up. Blobs in flight (written, reference not yet committed) are never collected.
public actor CodeStore {
    public let directory: URL
    private var inFlight: [String: Int] = [:]
    /// Bumped on every `put`, so a collection that raced with a new upload of the same bytes keeps the blob.
    private var generation: [String: Int] = [:]
    private let logger: Logger

    public init(directory: URL, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    public static func digest(of data: Data) -> (hex: String, base64: String) {
        let hash = Data(SHA256.hash(data: data))
        return (hash.map { String(format: "%02x", $0) }.joined(), hash.base64EncodedString())
    }

    public nonisolated func url(for digest: String) -> URL {
        directory.appendingPathComponent("\(digest).zip")
    }

    /// Stores the bytes (or finds them already stored) and marks the digest in flight until `release`.
    /// Hashing and the synced write run off the caller's thread (see `Blocking`).
    public func put(_ zip: Data) async throws -> StoredCode {
        let (hex, base64) = try await Blocking.run { Self.digest(of: zip) }
        inFlight[hex, default: 0] += 1
        generation[hex, default: 0] += 1
        let destination = url(for: hex)
        if !FileManager.default.fileExists(atPath: destination.path) {
            let directory = self.directory
            do {
                try await Blocking.run { try Self.writeDurably(zip, to: destination, in: directory) }
            } catch {
                release(hex)
                throw error
            }
        }
        return StoredCode(digest: hex, sha256Base64: base64, size: zip.count)
    }

    public func release(_ digest: String) {
        guard let count = inFlight[digest] else { return }
        inFlight[digest] = count > 1 ? count - 1 : nil
    }

    public func read(_ digest: String) throws -> Data {
        try Data(contentsOf: url(for: digest))
    }

    /// Deletes the candidates that `isReferenced` says nothing points at, unless an upload touched them meanwhile.
    public func collect(_ candidates: Set<String>, isReferenced: @Sendable (String) async throws -> Bool) async {
        for digest in candidates where inFlight[digest] == nil {
            let before = generation[digest, default: 0]
            guard let referenced = try? await isReferenced(digest), !referenced else { continue }
            // Re-checked after the await: the actor may have served a `put` of the same bytes in between.
            guard inFlight[digest] == nil, generation[digest, default: 0] == before else { continue }
            try? FileManager.default.removeItem(at: url(for: digest))
            logger.debug("collected unreferenced code blob", metadata: ["digest": "\(digest)"])
        }
    }

    /// Start-up sweep: removes temporary files and every blob not in `referenced`. Returns how many went.
    public func sweep(keeping referenced: Set<String>) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var removed = 0
        for name in names {
            let digest = name.hasSuffix(".zip") ? String(name.dropLast(4)) : nil
            if let digest, referenced.contains(digest) || inFlight[digest] != nil { continue }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            removed += 1
        }
        return removed
    }

    private static func writeDurably(_ data: Data, to destination: URL, in directory: URL) throws {
        let temporary = directory.appendingPathComponent(".tmp-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let handle = try FileHandle(forWritingTo: temporary)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(at: temporary, to: destination)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        // The rename is durable only once the directory entry is.
        let fd = open(directory.path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
