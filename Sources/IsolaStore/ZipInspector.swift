import Foundation
import LambdaAPI
import ZIPFoundation

/// What a deployment package holds, once proven safe to unpack.
public struct ZipSummary: Sendable, Equatable {
    public var entryCount: Int
    public var unzippedBytes: Int
}

/// Checks a deployment package before anything is stored: it must be a readable zip whose entries stay inside
/// the code root (no absolute paths, no `..`, no symlink pointing out) and whose *actual* unzipped size, counted
/// while inflating, stays under the limit, so a zip bomb is stopped at the limit rather than after it.
public enum ZipInspector {
    /// Symlink targets are short paths; a larger "target" is a malformed or hostile entry.
    static let maxSymlinkTargetBytes = 4_096

    public static func inspect(_ zip: Data, unzippedLimit: Int = Limits.unzippedCodeBytes) throws(LambdaError) -> ZipSummary {
        let archive: Archive
        do {
            archive = try Archive(data: zip, accessMode: .read)
        } catch {
            throw LambdaError.cannotUnzip
        }
        var total = 0
        var count = 0
        for entry in archive {
            count += 1
            if count > Limits.maxZipEntries {
                throw LambdaError(.invalidParameterValue, "The deployment package has more than \(Limits.maxZipEntries) entries; package fewer files.")
            }
            let path = entry.path
            try checkPath(path)
            if entry.type == .symlink, entry.compressedSize > UInt64(maxSymlinkTargetBytes) {
                throw LambdaError.cannotUnzip
            }
            var target = Data()
            var entryBytes = 0
            let checksum: CRC32
            do {
                checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                    entryBytes += chunk.count
                    if total + entryBytes > unzippedLimit { throw UnzipLimitExceeded() }
                    if entry.type == .symlink { target.append(chunk) }
                }
            } catch is UnzipLimitExceeded {
                throw LambdaError.unzippedTooLarge(limit: unzippedLimit)
            } catch {
                throw LambdaError.cannotUnzip
            }
            if entry.type != .directory, checksum != entry.checksum { throw LambdaError.cannotUnzip }
            total += entryBytes
            if entry.type == .symlink {
                try checkSymlink(path: path, target: String(decoding: target, as: UTF8.self))
            }
        }
        return ZipSummary(entryCount: count, unzippedBytes: total)
    }

    static func checkPath(_ path: String) throws(LambdaError) {
        if path.hasPrefix("/") || path.hasPrefix("\\") || path.contains("\0") {
            throw LambdaError(.invalidParameterValue, "The deployment package has an entry with an absolute path ('\(path)'); zip the files relative to the function's root.")
        }
        let components = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if components.contains("..") {
            throw LambdaError(.invalidParameterValue, "The deployment package has an entry that leaves the function's root ('\(path)'); remove '..' from the paths in the zip.")
        }
    }

    /// A symlink may point anywhere inside the code root, never outside it (and never to an absolute path).
    static func checkSymlink(path: String, target: String) throws(LambdaError) {
        let refuse = LambdaError(
            .invalidParameterValue,
            "The deployment package has a symbolic link that points outside the function's root ('\(path)' -> '\(target)'); replace it with the file it points to."
        )
        if target.isEmpty || target.hasPrefix("/") || target.contains("\0") { throw refuse }
        var depth = path.split(separator: "/").count - 1
        for component in target.split(separator: "/") {
            switch component {
            case ".": continue
            case "..":
                depth -= 1
                if depth < 0 { throw refuse }
            default: depth += 1
            }
        }
    }
}

private struct UnzipLimitExceeded: Error {}
