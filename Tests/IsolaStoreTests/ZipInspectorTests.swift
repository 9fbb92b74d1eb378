import Foundation
import IsolaStore
import LambdaAPI
import Testing
import ZIPFoundation

enum ZipEntry {
    case file(String, Data)
    case directory(String)
    case symlink(String, target: String)
}

/// Builds a zip in memory with ZIPFoundation, entry paths written exactly as given.
func makeZip(_ entries: [ZipEntry], compression: CompressionMethod = .deflate) throws -> Data {
    let archive = try Archive(data: Data(), accessMode: .create)
    for entry in entries {
        switch entry {
        case .file(let path, let data):
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: compression) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        case .directory(let path):
            try archive.addEntry(with: path, type: .directory, uncompressedSize: Int64(0)) { _, _ in Data() }
        case .symlink(let path, let target):
            let bytes = Data(target.utf8)
            try archive.addEntry(with: path, type: .symlink, uncompressedSize: Int64(bytes.count)) { _, _ in bytes }
        }
    }
    return try #require(archive.data)
}

/// The error `ZipInspector.inspect` throws, or nil when it accepts the zip.
func inspectError(_ zip: Data, unzippedLimit: Int = Limits.unzippedCodeBytes) -> LambdaError? {
    do {
        _ = try ZipInspector.inspect(zip, unzippedLimit: unzippedLimit)
        return nil
    } catch {
        return error
    }
}

@Suite("ZipInspector")
struct ZipInspectorTests {
    static let handler = Data("def handler(event, context):\n    return event\n".utf8)

    @Test func validZipIsSummarized() throws {
        let zip = try makeZip([
            .file("app.py", Self.handler), .directory("lib/"), .file("lib/util.py", Data(repeating: 0x61, count: 5000)),
            .symlink("lib/link.py", target: "util.py"),
        ])
        let summary = try ZipInspector.inspect(zip)
        #expect(summary.entryCount == 4)
        #expect(summary.unzippedBytes == Self.handler.count + 5000 + "util.py".utf8.count)
    }

    @Test func storedEntriesAreCountedToo() throws {
        let summary = try ZipInspector.inspect(try makeZip([.file("a.txt", Data(count: 1234))], compression: .none))
        #expect(summary.entryCount == 1)
        #expect(summary.unzippedBytes == 1234)
    }

    @Test func bytesThatAreNotAZipCannotBeUnzipped() {
        #expect(inspectError(Data("this is not a zip file at all".utf8)) == LambdaError.cannotUnzip)
        #expect(inspectError(Data()) == LambdaError.cannotUnzip)
        #expect(inspectError(Data(repeating: 0xFF, count: 4096)) == LambdaError.cannotUnzip)
    }

    @Test func truncatedZipCannotBeUnzipped() throws {
        let zip = try makeZip([.file("app.py", Data(repeating: 0x42, count: 10_000))], compression: .none)
        #expect(inspectError(zip.prefix(zip.count / 2)) == LambdaError.cannotUnzip)
        #expect(inspectError(zip.prefix(zip.count - 10)) == LambdaError.cannotUnzip)
    }

    @Test func corruptedContentFailsItsChecksum() throws {
        var zip = try makeZip([.file("app.py", Data(repeating: 0x42, count: 1000))], compression: .none)
        // Local header (30 bytes) + name (6 bytes), then the stored data: flip one byte of it.
        zip[30 + 6 + 500] ^= 0xFF
        #expect(inspectError(zip) == LambdaError.cannotUnzip)
    }

    @Test(arguments: ["/etc/cron.d/x", "/app.py", "\\windows\\x"])
    func absolutePathsAreRefused(_ path: String) throws {
        let error = inspectError(try makeZip([.file(path, Self.handler)]))
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message == "The deployment package has an entry with an absolute path ('\(path)'); zip the files relative to the function's root.")
    }

    @Test(arguments: ["../x", "lib/../../x", "a/..", "..\\evil.py", "ok/../../../etc/passwd"])
    func parentTraversalIsRefused(_ path: String) throws {
        let error = inspectError(try makeZip([.file("app.py", Self.handler), .file(path, Self.handler)]))
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message == "The deployment package has an entry that leaves the function's root ('\(path)'); remove '..' from the paths in the zip.")
    }

    @Test func dotsInsideNamesAreFine() throws {
        #expect(inspectError(try makeZip([.file("..hidden", Self.handler), .file("a..b/c", Self.handler), .file("./app.py", Self.handler)])) == nil)
    }

    @Test(arguments: [
        ("link", "../../etc/passwd"), ("link", "/etc/passwd"), ("link", ".."), ("lib/link", "../.."),
        ("lib/link", "./../../x"), ("a/b/link", "../../../x"), ("link", "sub/../../x"),
    ])
    func symlinksLeavingTheRootAreRefused(_ path: String, _ target: String) throws {
        let error = inspectError(try makeZip([.file("app.py", Self.handler), .symlink(path, target: target)]))
        #expect(error?.code == .invalidParameterValue)
        #expect(error?.message == "The deployment package has a symbolic link that points outside the function's root ('\(path)' -> '\(target)'); replace it with the file it points to.")
    }

    @Test(arguments: [("link", "app.py"), ("lib/link", "../app.py"), ("a/b/link", "../../app.py"), ("link", "./lib/./x.py"), ("lib/here", ".")])
    func symlinksInsideTheRootAreAccepted(_ path: String, _ target: String) throws {
        #expect(inspectError(try makeZip([.file("app.py", Self.handler), .symlink(path, target: target)])) == nil)
    }

    @Test func symlinkChainsCannotEscapeTheRoot() throws {
        // Each link looks contained on its own, but `up` goes through `self` (which is the root itself):
        // root/up -> root/self/.. -> root/.. , the directory above the function's root.
        let zip = try makeZip([.file("app.py", Self.handler), .symlink("self", target: "."), .symlink("up", target: "self/..")])
        #expect(inspectError(zip)?.code == .invalidParameterValue)
        // The same through a nested link: lib/s -> .. (the root), lib/up -> lib/s/.. (above the root).
        let nested = try makeZip([.file("app.py", Self.handler), .symlink("lib/s", target: ".."), .symlink("lib/up", target: "s/..")])
        #expect(inspectError(nested)?.code == .invalidParameterValue)
    }

    @Test func bombIsStoppedAtTheLimit() throws {
        // 20 MB of zeros deflates to about 20 KB.
        let zip = try makeZip([.file("zeros.bin", Data(count: 20_000_000))])
        #expect(zip.count < 100_000)
        #expect(inspectError(zip, unzippedLimit: 1_000_000) == LambdaError.unzippedTooLarge(limit: 1_000_000))
        #expect(LambdaError.unzippedTooLarge(limit: 1_000_000).message == "Unzipped size must be smaller than 1000000 bytes")
    }

    @Test func bombThatLiesAboutItsSizeIsStoppedToo() throws {
        var zip = try makeZip([.file("zeros.bin", Data(count: 5_000_000))])
        // Rewrite the uncompressed size (local header offset 22, central directory offset 24) to claim 100 bytes.
        let small: [UInt8] = [100, 0, 0, 0]
        zip.replaceSubrange(22..<26, with: small)
        let central = try #require(zip.firstRange(of: Data([0x50, 0x4B, 0x01, 0x02])))
        zip.replaceSubrange(central.lowerBound + 24..<central.lowerBound + 28, with: small)
        #expect(inspectError(zip, unzippedLimit: 1_000_000) == LambdaError.unzippedTooLarge(limit: 1_000_000))
    }

    @Test func limitCountsAllEntriesTogether() throws {
        let zip = try makeZip((1...3).map { .file("part\($0).bin", Data(count: 400_000)) })
        #expect(inspectError(zip, unzippedLimit: 1_000_000) == LambdaError.unzippedTooLarge(limit: 1_000_000))
        #expect(try ZipInspector.inspect(zip, unzippedLimit: 1_200_000).unzippedBytes == 1_200_000)
    }
}
