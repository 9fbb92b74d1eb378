import Foundation
import IsolaStore
import Logging
import Testing

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("isola-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

let quietLogger: Logger = {
    var logger = Logger(label: "isola-store-tests")
    logger.logLevel = .critical
    return logger
}()

@Suite("CodeStore")
struct CodeStoreTests {
    func exists(_ url: URL) -> Bool { FileManager.default.fileExists(atPath: url.path) }

    func contents(_ directory: URL) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
    }

    @Test func digestIsSHA256InHexAndBase64() {
        let digest = CodeStore.digest(of: Data("hello".utf8))
        #expect(digest.hex == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(digest.base64 == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=")
    }

    @Test func putIsIdempotentAndContentAddressed() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let directory = temp.url.appendingPathComponent("code")
        let store = try CodeStore(directory: directory, logger: quietLogger)
        let bytes = Data("zip bytes".utf8)
        let first = try await store.put(bytes)
        let second = try await store.put(bytes)
        #expect(first == second)
        #expect(first.digest == CodeStore.digest(of: bytes).hex)
        #expect(first.sha256Base64 == CodeStore.digest(of: bytes).base64)
        #expect(first.size == bytes.count)
        #expect(try contents(directory) == ["\(first.digest).zip"])
        #expect(store.url(for: first.digest).lastPathComponent == "\(first.digest).zip")
        #expect(try await store.read(first.digest) == bytes)
        let other = try await store.put(Data("other".utf8))
        #expect(other.digest != first.digest)
        #expect(try contents(directory).count == 2)
    }

    @Test func blobsAreOwnerOnly() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try CodeStore(directory: temp.url, logger: quietLogger)
        let stored = try await store.put(Data("secret code".utf8))
        let attributes = try FileManager.default.attributesOfItem(atPath: store.url(for: stored.digest).path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func sweepRemovesUnreferencedAndTemporaryFiles() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try CodeStore(directory: temp.url, logger: quietLogger)
        let referenced = try await store.put(Data("referenced".utf8))
        await store.release(referenced.digest)
        let orphan = try await store.put(Data("orphan".utf8))
        await store.release(orphan.digest)
        let inFlight = try await store.put(Data("in flight".utf8))  // not released: an upload whose metadata is not committed yet
        let leftover = temp.url.appendingPathComponent(".tmp-\(UUID().uuidString)")
        try Data("partial".utf8).write(to: leftover)

        let removed = await store.sweep(keeping: [referenced.digest])
        #expect(removed == 2)
        #expect(exists(store.url(for: referenced.digest)))
        #expect(exists(store.url(for: inFlight.digest)))
        #expect(!exists(store.url(for: orphan.digest)))
        #expect(!exists(leftover))
    }

    @Test func collectDeletesOnlyUnreferencedBlobsNotInFlight() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try CodeStore(directory: temp.url, logger: quietLogger)
        let stored = try await store.put(Data("blob".utf8))

        // In flight: kept even though nothing references it.
        await store.collect([stored.digest]) { _ in false }
        #expect(exists(store.url(for: stored.digest)))

        // Two puts of the same bytes need two releases.
        _ = try await store.put(Data("blob".utf8))
        await store.release(stored.digest)
        await store.collect([stored.digest]) { _ in false }
        #expect(exists(store.url(for: stored.digest)))
        await store.release(stored.digest)

        // Referenced, or unknown because the check failed: kept.
        await store.collect([stored.digest]) { _ in true }
        #expect(exists(store.url(for: stored.digest)))
        await store.collect([stored.digest]) { _ in throw CancellationError() }
        #expect(exists(store.url(for: stored.digest)))

        // Released and unreferenced: collected.
        await store.collect([stored.digest]) { _ in false }
        #expect(!exists(store.url(for: stored.digest)))
    }

    @Test func collectKeepsABlobReUploadedDuringTheCheck() async throws {
        let temp = try TemporaryDirectory()
        defer { temp.remove() }
        let store = try CodeStore(directory: temp.url, logger: quietLogger)
        let bytes = Data("raced".utf8)
        let stored = try await store.put(bytes)
        await store.release(stored.digest)
        await store.collect([stored.digest]) { _ in
            // A new upload of the same bytes lands (and is released) while the reference check runs.
            let again = try await store.put(bytes)
            await store.release(again.digest)
            return false
        }
        #expect(exists(store.url(for: stored.digest)))
    }
}
